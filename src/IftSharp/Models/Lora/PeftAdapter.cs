using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Models.Lora;

/// <summary>
/// PEFT's on-disk adapter format, so adapters go both ways between IftSharp and Python (PEFT's
/// <c>PeftModel.from_pretrained</c> / <c>save_pretrained</c>): <c>adapter_config.json</c> is the LoRA config dataclass
/// as JSON (sorted keys, indent 2); <c>adapter_model.safetensors</c> holds
/// <c>base_model.model.{module path}.lora_A.weight</c> [r, in] and <c>.lora_B.weight</c> [out, r] per adapted projection.
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFileName = "adapter_config.json";
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>What PeftModel's wrapping adds in front of the base model's own module paths.</summary>
    public const string KeyPrefix = "base_model.model.";

    /// <summary>The saved name of one adapter weight: <paramref name="matrix"/> is <c>lora_A</c> or <c>lora_B</c>.</summary>
    public static string WeightName(string modulePath, string matrix) => $"{KeyPrefix}{modulePath}.{matrix}.weight";

    /// <summary>Whether <paramref name="directory"/> holds an adapter (its config file).</summary>
    public static bool IsAdapterFolder(string directory) => File.Exists(Path.Combine(directory, ConfigFileName));

    /// <summary>
    /// Writes the adapter into <paramref name="directory"/> (each file through a temporary one). PEFT writes
    /// <c>inference_mode: true</c> into a saved config, and the target modules resolved against the model (all-linear
    /// becomes the projection names it matched).
    /// </summary>
    public static void Save(LoraAdapter adapter, string directory, string baseModelNameOrPath, string? revision = null)
    {
        Directory.CreateDirectory(directory);
        SafetensorsCheckpoint.WriteFile(Path.Combine(directory, WeightsFileName), adapter.PeftStateDict());
        var configPath = Path.Combine(directory, ConfigFileName);
        var resolved = adapter.Modules.Select(m => m.Path[(m.Path.LastIndexOf('.') + 1)..]).Distinct().ToList();
        File.WriteAllText(configPath + ".tmp", ConfigJson(adapter.Config, resolved, baseModelNameOrPath, revision));
        File.Move(configPath + ".tmp", configPath, overwrite: true);
    }

    /// <summary>
    /// <c>adapter_config.json</c>'s text, as Python's <c>json.dumps(config, indent=2, sort_keys=True)</c> writes it.
    /// <paramref name="resolvedProjections"/> stands for <c>all-linear</c> in the written <c>target_modules</c>.
    /// </summary>
    public static string ConfigJson(LoraConfig config, IReadOnlyList<string> resolvedProjections, string baseModelNameOrPath,
        string? revision)
    {
        var fields = new SortedDictionary<string, Action<Utf8JsonWriter>>(StringComparer.Ordinal)
        {
            ["alpha_pattern"] = w => { w.WriteStartObject(); w.WriteEndObject(); },
            ["base_model_name_or_path"] = w => w.WriteStringValue(baseModelNameOrPath),
            ["bias"] = w => w.WriteStringValue("none"),
            ["fan_in_fan_out"] = w => w.WriteBooleanValue(false),
            ["inference_mode"] = w => w.WriteBooleanValue(true),
            ["init_lora_weights"] = w => w.WriteBooleanValue(true),
            ["lora_alpha"] = w => w.WriteRawValue(PythonNumber(config.LoraAlpha, integral: true)),
            ["lora_dropout"] = w => w.WriteRawValue(PythonNumber(config.Dropout, integral: false)),
            ["modules_to_save"] = w => w.WriteNullValue(),
            ["peft_type"] = w => w.WriteStringValue("LORA"),
            ["r"] = w => w.WriteNumberValue(config.R),
            ["rank_pattern"] = w => { w.WriteStartObject(); w.WriteEndObject(); },
            ["revision"] = w => { if (revision is null) w.WriteNullValue(); else w.WriteStringValue(revision); },
            ["target_modules"] = w =>
            {
                if (config.TargetPattern is not null) { w.WriteStringValue(config.TargetPattern); return; }
                var names = config.TargetModules.Contains(LoraConfig.AllLinear) ? resolvedProjections : config.TargetModules;
                w.WriteStartArray();
                foreach (var name in names.Distinct().OrderBy(n => n, StringComparer.Ordinal)) w.WriteStringValue(name);
                w.WriteEndArray();
            },
            ["task_type"] = w => w.WriteStringValue("CAUSAL_LM"),
            ["use_dora"] = w => w.WriteBooleanValue(false),
            ["use_rslora"] = w => w.WriteBooleanValue(config.UseRslora),
        };
        using var buffer = new MemoryStream();
        var options = new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var writer = new Utf8JsonWriter(buffer, options))
        {
            writer.WriteStartObject();
            foreach (var (name, write) in fields)
            {
                writer.WritePropertyName(name);
                write(writer);
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A number as Python's json writes an int (when <paramref name="integral"/>) or a float (<c>0.0</c>, <c>1e-05</c>).</summary>
    private static string PythonNumber(double value, bool integral)
    {
        if (value == Math.Floor(value) && Math.Abs(value) < 1e16)
        {
            var whole = ((long)value).ToString(CultureInfo.InvariantCulture);
            return integral ? whole : whole + ".0";
        }
        return value.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
    }

    /// <summary>
    /// The LoRA settings of an adapter folder's <c>adapter_config.json</c>. Keys IftSharp does not need are ignored;
    /// features it does not implement (DoRA, biases, rank or alpha patterns, modules to save, layer subsets) are an
    /// <see cref="InputException"/> naming the field, never silently dropped.
    /// </summary>
    public static LoraConfig ReadConfig(string directory)
    {
        var path = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(path)) throw new InputException($"{path}: file not found; expected a PEFT adapter folder");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw InputException.At(path, null, null, "expected a JSON object");
        }
        catch (JsonException e) { throw InputException.At(path, (int?)e.LineNumber + 1, null, $"not valid JSON: {e.Message}"); }

        var peftType = String(root, path, "peft_type");
        if (peftType != "LORA") throw InputException.At(path, null, "peft_type", $"'{peftType}': only LORA adapters are supported");
        var bias = String(root, path, "bias") ?? "none";
        if (bias != "none") throw InputException.At(path, null, "bias", $"'{bias}': only \"none\" is supported");
        foreach (var flag in new[] { "use_dora", "lora_bias" })
            if (Bool(root, path, flag) == true) throw InputException.At(path, null, flag, "true is not supported");
        foreach (var map in new[] { "rank_pattern", "alpha_pattern" })
        {
            if (root[map] is not (null or JsonObject { Count: 0 }))
                throw InputException.At(path, null, map, "per-module ranks and alphas are not supported (expected {})");
        }
        string[] unsupported = ["modules_to_save", "layers_to_transform", "layers_pattern", "exclude_modules", "layer_replication",
            "trainable_token_indices", "target_parameters"];
        foreach (var field in unsupported)
        {
            if (root[field] is not (null or JsonArray { Count: 0 }))
                throw InputException.At(path, null, field, "is set, which IftSharp does not support (expected null)");
        }

        var r = root["r"] is JsonValue rv && rv.TryGetValue<int>(out var ri) ? ri
            : throw InputException.At(path, null, "r", "expected a positive integer");
        double alpha = Number(root, path, "lora_alpha") ?? 8; // PEFT's default
        double dropout = Number(root, path, "lora_dropout") ?? 0;
        bool rslora = Bool(root, path, "use_rslora") ?? false;
        var config = root["target_modules"] switch
        {
            // PEFT's default targets for the Llama family (q and v projections).
            null => new LoraConfig { TargetModules = ["q_proj", "v_proj"] },
            JsonValue v when v.TryGetValue<string>(out var pattern) => pattern == LoraConfig.AllLinear
                ? new LoraConfig { TargetModules = [LoraConfig.AllLinear] }
                : new LoraConfig { TargetPattern = pattern },
            JsonArray list => new LoraConfig
            {
                TargetModules = list.Select(n => n is JsonValue s && s.TryGetValue<string>(out var name) ? name
                    : throw InputException.At(path, null, "target_modules", "expected a list of module names")).ToList(),
            },
            _ => throw InputException.At(path, null, "target_modules", "expected a list of module names or a regular expression"),
        };
        config = config with { R = r, Alpha = alpha, Dropout = dropout, UseRslora = rslora };
        config.Validate(path);
        return config;
    }

    /// <summary>
    /// Attaches the adapter in <paramref name="directory"/> to <paramref name="model"/> (freezing the base). Every
    /// adapted projection's A and B must be in the weights file with PEFT's names and shapes, and nothing else.
    /// <paramref name="trainable"/> false loads for inference: no gradient, no dropout.
    /// </summary>
    public static LoraAdapter Load(LlamaForCausalLM model, string directory, bool trainable = true)
    {
        var config = ReadConfig(directory);
        var weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weightsPath)) throw new InputException($"{weightsPath}: file not found (adapter weights in safetensors)");
        var adapter = LoraAdapter.Attach(model, config, seed: 0, dtype: null, trainable);
        try
        {
            ReadWeights(adapter, directory);
            return adapter;
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Overwrites an attached adapter's A and B with those saved in <paramref name="directory"/> (a training checkpoint
    /// restored into the run's own adapter); the file must hold exactly the adapter's names and shapes.
    /// </summary>
    public static void ReadWeights(LoraAdapter adapter, string directory)
    {
        var weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weightsPath)) throw new InputException($"{weightsPath}: file not found (adapter weights in safetensors)");
        using var file = new SafetensorsFile(weightsPath);
        var expected = adapter.PeftStateDict();
        var names = expected.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        var missing = names.Where(n => !file.Entries.ContainsKey(n)).ToList();
        var unexpected = file.Entries.Keys.Where(n => !names.Contains(n)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            var message = new StringBuilder($"{weightsPath}: adapter weights do not match {ConfigFileName} and the model");
            if (missing.Count > 0) message.Append("; missing keys: " + FirstFew(missing));
            if (unexpected.Count > 0) message.Append("; unexpected keys: " + FirstFew(unexpected));
            throw new InputException(message.ToString());
        }
        using var noGrad = no_grad(); // A and B are leaves that require a gradient: written in place without autograd
        foreach (var (name, tensor) in expected) file.ReadInto(name, tensor);
    }

    private static string FirstFew(IReadOnlyList<string> names) =>
        string.Join(", ", names.Take(8)) + (names.Count > 8 ? $" (+{names.Count - 8} more)" : "");

    private static string? String(JsonObject root, string path, string field) => root[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw InputException.At(path, null, field, "expected a string"),
    };

    private static bool? Bool(JsonObject root, string path, string field) => root[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        _ => throw InputException.At(path, null, field, "expected true or false"),
    };

    private static double? Number(JsonObject root, string path, string field) => root[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<double>(out var d) => d,
        _ => throw InputException.At(path, null, field, "expected a number"),
    };
}

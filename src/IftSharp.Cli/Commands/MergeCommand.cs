using System.CommandLine;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Models.Lora;
using static TorchSharp.torch;

namespace IftSharp.Cli.Commands;

/// <summary>
/// <c>iftsharp merge</c>: a LoRA adapter (PEFT's format) merged into its base model's weights, written as a plain
/// Hugging Face model folder (PEFT's <c>merge_and_unload()</c> followed by <c>save_pretrained</c>).
/// </summary>
public static class MergeCommand
{
    /// <summary>Files copied beside the merged weights; the adapter folder's copy wins (trainers save their tokenizer there).</summary>
    private static readonly string[] CompanionFiles =
        [.. PretrainedInitializer.TokenizerFiles, "generation_config.json", "chat_template.jinja", "chat_template.json"];

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Base model folder (config.json, model.safetensors).", Required = true };
        var adapter = new Option<string>("--adapter")
        {
            Description = "LoRA adapter folder in PEFT's format (adapter_config.json, adapter_model.safetensors).", Required = true,
        };
        var output = new Option<string>("--output") { Description = "Folder to write the merged model into (HF layout).", Required = true };
        var command = new Command("merge", "Merge a LoRA adapter into its base model (W += B·A·scaling, in float32) and save it.");
        foreach (var o in new Option[] { model, adapter, output }) command.Options.Add(o);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var baseDir = parse.GetValue(model)!;
            var adapterDir = parse.GetValue(adapter)!;
            var outputDir = parse.GetValue(output)!;
            var configPath = Path.Combine(baseDir, "config.json");
            if (!File.Exists(configPath)) throw new InputException($"{configPath}: file not found; expected a model folder (--model)");
            if (!PeftAdapter.IsAdapterFolder(adapterDir))
            {
                var adapterConfig = Path.Combine(adapterDir, PeftAdapter.ConfigFileName);
                throw new InputException($"{adapterConfig}: file not found; expected a PEFT adapter folder (--adapter)");
            }
            if (Path.GetFullPath(outputDir).TrimEnd('/') == Path.GetFullPath(baseDir).TrimEnd('/'))
                throw new InputException("--output: must differ from --model (the base model is not overwritten)");
            var dtype = StoredDtype(DecoderConfig.Load(configPath), configPath);
            using var lm = LlamaForCausalLM.FromPretrained(baseDir, dtype);
            var lora = PeftAdapter.Load(lm, adapterDir, trainable: false);
            int merged = lora.Modules.Count;
            lora.MergeIntoBase();
            lora.Dispose();
            lm.SavePretrained(outputDir);
            foreach (var name in CompanionFiles)
            {
                var source = new[] { adapterDir, baseDir }.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
                if (source is null) continue;
                var target = Path.Combine(outputDir, name);
                File.Copy(source, target + ".tmp", overwrite: true);
                File.Move(target + ".tmp", target, overwrite: true);
            }
            Console.WriteLine($"merged {merged} LoRA projections of {adapterDir} into {baseDir} ({dtype}): wrote {outputDir}");
            return 0;
        }));
        return command;
    }

    /// <summary>The dtype the base checkpoint declares (float32 when it declares none): the merged model keeps it.</summary>
    private static ScalarType StoredDtype(DecoderConfig config, string configPath) => config.DeclaredDtype switch
    {
        null or "float32" => ScalarType.Float32,
        "bfloat16" => ScalarType.BFloat16,
        "float16" => ScalarType.Float16,
        "float64" => ScalarType.Float64,
        var other => throw InputException.At(configPath, null, "torch_dtype", $"'{other}': expected float32, bfloat16, float16 or float64"),
    };
}

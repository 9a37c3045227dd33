using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Tokenization;
using static TorchSharp.torch;

namespace IftSharp.Benchmarking;

/// <summary>
/// A random-weight model folder of a real <c>config.json</c>'s shape, for measuring memory and speed at real sizes
/// without downloading weights: the config as published, <c>model.safetensors</c> (Hugging Face's names and shapes,
/// weights drawn as Hugging Face's <c>_init_weights</c> draws them: normal(0, initializer_range), norms one, biases
/// zero) and IftSharp's byte-level tokenizer. The weights are streamed to disk one slice at a time, so writing a 7B
/// model costs a few hundred megabytes, not the model (a model built in memory first would cost its size on top of
/// whatever the benchmark measures next).
/// </summary>
public static class RandomCheckpoint
{
    // Elements drawn and written at a time: 64 MiB of float32, whatever the tensor's size.
    private const long SliceElements = 16L << 20;

    /// <summary>
    /// The folder of <paramref name="configPath"/>'s random checkpoint in <paramref name="dtype"/> under
    /// <paramref name="cacheRoot"/>, written first when it is not there yet. The folder's name carries a hash of the config
    /// text, so an edited config gets a new checkpoint; it is written under a temporary name and renamed when complete,
    /// so an interrupted write is never mistaken for a checkpoint.
    /// </summary>
    public static string Cached(string configPath, ScalarType dtype, string cacheRoot, Action<string>? log = null)
    {
        if (!File.Exists(configPath)) throw new InputException($"{configPath}: config file not found");
        var text = File.ReadAllText(configPath);
        var config = DecoderConfig.Parse(text, configPath);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12];
        var name = $"{Path.GetFileNameWithoutExtension(configPath)}-{hash}-{DtypeTag(dtype)}";
        var folder = Path.Combine(cacheRoot, name);
        if (Directory.Exists(folder)) return folder;
        Directory.CreateDirectory(cacheRoot);
        var temporary = Path.Combine(cacheRoot, $".{name}.tmp-{Environment.ProcessId}");
        if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        log?.Invoke($"writing a random-weight {DtypeTag(dtype)} checkpoint of {configPath} "
            + $"({Bytes(config, dtype) / 1e9:F2} GB) to {folder} ...");
        try
        {
            Write(config, text, temporary, dtype);
            Directory.Move(temporary, folder);
        }
        catch
        {
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
            throw;
        }
        return folder;
    }

    /// <summary>The bytes of a model of <paramref name="config"/> in <paramref name="dtype"/> (a tied head counted once).</summary>
    public static long Bytes(DecoderConfig config, ScalarType dtype) =>
        LlamaForCausalLM.ParameterCount(config)
        * (dtype is ScalarType.BFloat16 or ScalarType.Float16 ? 2 : dtype == ScalarType.Float64 ? 8 : 4);

    public static string DtypeTag(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "f16",
        ScalarType.Float32 => "f32",
        _ => throw new ArgumentException($"random checkpoints are float32, bfloat16 or float16, not {dtype}", nameof(dtype)),
    };

    /// <summary>
    /// Writes <c>config.json</c> (<paramref name="configText"/> unchanged), the byte-level tokenizer's files and
    /// <c>model.safetensors</c> in <paramref name="dtype"/> into <paramref name="directory"/>. The same seed gives the
    /// same weights.
    /// </summary>
    public static void Write(DecoderConfig config, string configText, string directory, ScalarType dtype, long seed = 0)
    {
        DtypeTag(dtype);
        Directory.CreateDirectory(directory);
        // The tensors a model of this config saves, names and shapes from the meta device: no memory.
        List<(string Name, long[] Shape)> tensors;
        using (var shape = LlamaForCausalLM.CreateOnMeta(config))
            tensors = shape.state_dict().OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value.shape)).ToList();
        int elementSize = dtype == ScalarType.Float32 ? 4 : 2;
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            long size = shape.Aggregate(1L, (a, d) => a * d) * elementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = SafetensorsFile.DtypeNameOf(dtype),
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode)JsonValue.Create(d)).ToArray()),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + size)),
            };
            offset += size;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (headerBytes.Length + 7) / 8 * 8;
        AtomicFile.WriteStream(Path.Combine(directory, SafetensorsCheckpoint.SingleFileName), stream =>
        {
            stream.Write(BitConverter.GetBytes((long)padded));
            stream.Write(headerBytes);
            for (int i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
            using var noGrad = no_grad();
            using var rng = new TorchSharp.torch.Generator((ulong)seed);
            foreach (var (name, shape) in tensors)
            {
                long count = shape.Aggregate(1L, (a, d) => a * d);
                for (long start = 0; start < count; start += SliceElements)
                {
                    using var scope = NewDisposeScope();
                    var slice = Draw(name, Math.Min(SliceElements, count - start), config.InitializerRange, rng);
                    stream.Write(slice.to_type(dtype).bytes);
                }
            }
        });
        AtomicFile.WriteAllText(Path.Combine(directory, "config.json"), configText);
        new ByteLevelTokenizer().Save(directory);
    }

    /// <summary>Hugging Face's initialisation of one parameter's slice, in float32.</summary>
    private static Tensor Draw(string name, long count, double range, TorchSharp.torch.Generator rng)
    {
        if (name.EndsWith("norm.weight", StringComparison.Ordinal)) return ones(count);
        if (name.EndsWith(".bias", StringComparison.Ordinal)) return zeros(count);
        return empty(count).normal_(0.0, range, rng);
    }
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// Hugging Face checkpoint layout: <c>model.safetensors</c>, or shards named <c>model-00001-of-00002.safetensors</c>
/// listed by <c>model.safetensors.index.json</c> (<c>weight_map</c>: tensor name → shard file).
/// Written by hand: no safetensors package is reachable from this project's NuGet feed.
/// </summary>
public static class SafetensorsCheckpoint
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";
    /// <summary>5 GB, Hugging Face's default <c>max_shard_size</c>.</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <summary>
    /// Loads every tensor of <paramref name="module"/>'s state dict; missing or unexpected names, other shapes, integer
    /// tensors for float weights and non-finite values are input errors naming them, all but the last found before any
    /// tensor is read.
    /// </summary>
    public static void Load(nn.Module module, string directory)
    {
        using var reader = SafetensorsCheckpointReader.Open(directory);
        reader.CheckCovers(module);
        reader.ReadInto(module);
    }

    /// <summary>The safetensors files of a model folder: the index's shards, or the single file.</summary>
    public static IReadOnlyList<string> TensorFiles(string directory)
    {
        if (!Directory.Exists(directory)) throw new InputException($"{directory}: model folder not found");
        var index = Path.Combine(directory, IndexFileName);
        if (File.Exists(index))
        {
            JsonObject? weightMap;
            try { weightMap = JsonNode.Parse(File.ReadAllText(index))?["weight_map"]?.AsObject(); }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                throw InputException.At(index, null, "weight_map", $"not a JSON object: {e.Message}");
            }
            if (weightMap is null) throw InputException.At(index, null, "weight_map", "missing");
            string FileOf(KeyValuePair<string, JsonNode?> entry) =>
                entry.Value is JsonValue v && v.TryGetValue<string>(out var file) && file.Length > 0 ? file
                    : throw InputException.At(index, null, $"weight_map.{entry.Key}", "expected a file name");
            return weightMap.Select(p => Path.Combine(directory, FileOf(p))).Distinct().ToList();
        }
        var single = Path.Combine(directory, SingleFileName);
        if (File.Exists(single)) return [single];
        throw new InputException($"{directory}: no {SingleFileName} or {IndexFileName}");
    }

    /// <summary>
    /// Saves <paramref name="module"/>'s state dict into <paramref name="directory"/>: one file when it fits
    /// <paramref name="maxShardBytes"/>, shards plus an index otherwise. Stale weight files of the other layout are removed.
    /// </summary>
    public static void Save(nn.Module module, string directory, long maxShardBytes = DefaultMaxShardBytes)
    {
        var tensors = module.state_dict().OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long current = 0, total = 0;
        foreach (var pair in tensors)
        {
            long size = pair.Value.numel() * pair.Value.ElementSize;
            total += size;
            if (current > 0 && current + size > maxShardBytes) { shards.Add([]); current = 0; }
            shards[^1].Add(pair);
            current += size;
        }
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        if (shards.Count == 1)
        {
            written.Add(Path.Combine(directory, SingleFileName));
            WriteFile(written[0], shards[0]);
        }
        else
        {
            var weightMap = new JsonObject();
            for (int i = 0; i < shards.Count; i++)
            {
                var name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                written.Add(Path.Combine(directory, name));
                WriteFile(written[^1], shards[i]);
                foreach (var pair in shards[i]) weightMap[pair.Key] = name;
            }
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
            var indexPath = Path.Combine(directory, IndexFileName);
            written.Add(indexPath);
            AtomicFile.WriteAllText(indexPath, index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        // Only once the new weights are complete: remove files of an earlier save with another layout.
        var stale = Directory.GetFiles(directory, "model*.safetensors").Append(Path.Combine(directory, IndexFileName))
            .Where(f => File.Exists(f) && !written.Contains(f));
        foreach (var file in stale.ToList()) File.Delete(file);
    }

    /// <summary>
    /// Writes one safetensors file (via a temporary file): header padded with spaces to a multiple of 8 bytes,
    /// <c>__metadata__</c> <c>{"format": "pt"}</c>, data in the header's order.
    /// </summary>
    public static void WriteFile(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors) => WriteFile(path, tensors, 1L << 30);

    // chunkBytes: Span<byte> is limited to 2 GiB, so larger tensors are written in slices of this many bytes.
    internal static void WriteFile(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, long chunkBytes)
    {
        var list = tensors.ToList();
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (var (name, tensor) in list)
        {
            long size = tensor.numel() * tensor.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = SafetensorsFile.DtypeNameOf(tensor.dtype),
                ["shape"] = new JsonArray(tensor.shape.Select(d => (JsonNode)JsonValue.Create(d)).ToArray()),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + size)),
            };
            offset += size;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (headerBytes.Length + 7) / 8 * 8;
        AtomicFile.WriteStream(path, stream => // a failed write (a full disk) leaves no temporary file
        {
            stream.Write(BitConverter.GetBytes((long)padded));
            stream.Write(headerBytes);
            for (int i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var (_, tensor) in list)
            {
                using var scope = NewDisposeScope();
                var flat = tensor.detach().cpu().contiguous().view(-1);
                long chunkElements = Math.Max(1, chunkBytes / tensor.ElementSize);
                for (long start = 0; start < flat.numel(); start += chunkElements)
                    stream.Write(flat.narrow(0, start, Math.Min(chunkElements, flat.numel() - start)).bytes);
            }
        });
    }
}

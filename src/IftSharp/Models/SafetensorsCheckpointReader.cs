using System.Text;
using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// The safetensors files of a Hugging Face model folder, opened with their headers read and no tensor data touched,
/// so a checkpoint can be checked against a model (names, shapes, dtypes) before the model's memory is allocated,
/// then read into it.
/// </summary>
public sealed class SafetensorsCheckpointReader : IDisposable
{
    private const int ListedKeys = 10;

    private readonly string directory;
    private readonly List<SafetensorsFile> files = [];
    private readonly Dictionary<string, SafetensorsFile> fileOf = new(StringComparer.Ordinal);

    private SafetensorsCheckpointReader(string directory) => this.directory = directory;

    /// <summary>Opens <paramref name="directory"/>'s weights (single file or the index's shards); a missing file is an input
    /// error.</summary>
    public static SafetensorsCheckpointReader Open(string directory)
    {
        var reader = new SafetensorsCheckpointReader(directory);
        try
        {
            foreach (var path in SafetensorsCheckpoint.TensorFiles(directory))
            {
                var file = new SafetensorsFile(path);
                reader.files.Add(file);
                foreach (var name in file.Entries.Keys) reader.fileOf[name] = file;
            }
        }
        catch
        {
            reader.Dispose();
            throw;
        }
        return reader;
    }

    /// <summary>Every tensor name the checkpoint holds.</summary>
    public IReadOnlyCollection<string> TensorNames => fileOf.Keys;

    /// <summary>
    /// Throws an input error unless the checkpoint holds every tensor of <paramref name="module"/>'s state dict (which may
    /// live on the meta device) with its shape and a dtype readable into it, and nothing else except
    /// <paramref name="ignoredKeys"/> (for example a tied model's <c>lm_head.weight</c>, which transformers also ignores).
    /// </summary>
    public void CheckCovers(nn.Module module, IReadOnlyCollection<string>? ignoredKeys = null)
    {
        var stateDict = module.state_dict();
        var missing = stateDict.Keys.Where(k => !fileOf.ContainsKey(k)).ToList();
        var unexpected = fileOf.Keys.Where(k => !stateDict.ContainsKey(k) && ignoredKeys?.Contains(k) != true)
            .OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            var message = new StringBuilder($"{directory}: checkpoint does not match the model's config.json");
            if (missing.Count > 0) message.Append($"; missing keys: {Listed(missing)}");
            if (unexpected.Count > 0) message.Append($"; unexpected keys: {Listed(unexpected)}");
            throw new InputException(message.ToString());
        }
        foreach (var (name, tensor) in stateDict)
            fileOf[name].CheckReadableAs(name, tensor.shape, tensor.dtype);
    }

    /// <summary>Reads every tensor of <paramref name="module"/>'s state dict from the checkpoint (after <see
    /// cref="CheckCovers"/>).</summary>
    public void ReadInto(nn.Module module)
    {
        foreach (var (name, tensor) in module.state_dict())
        {
            if (!fileOf.TryGetValue(name, out var file)) throw new InputException($"{directory}: checkpoint has no tensor '{name}'");
            file.ReadInto(name, tensor);
        }
    }

    private static string Listed(List<string> keys) =>
        keys.Count <= ListedKeys
            ? string.Join(", ", keys)
            : $"{string.Join(", ", keys.Take(ListedKeys))} and {keys.Count - ListedKeys} more";

    public void Dispose()
    {
        foreach (var file in files) file.Dispose();
    }
}

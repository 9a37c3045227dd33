using System.Security.Cryptography;
using System.Text;
using IftSharp.Core;
using IftSharp.Methods;

namespace IftSharp.Training;

/// <summary>
/// Everything that decides a run's trajectory, as setting name → value text: the method and every one of its settings,
/// every loop and run setting (batch size, accumulation, lengths, seed, optimizer, schedule, learning rate, steps,
/// bf16, ...), the start model's identity and the dataset's content hash. It is recorded in every checkpoint's
/// <c>trainer_state.json</c>; <c>--resume</c> continues a checkpoint only when the run's fingerprint is the same, and
/// otherwise names the setting that differs. A setting declared later is part of it without further code.
/// </summary>
public static class RunFingerprint
{
    /// <summary>Settings that decide where files go and what is logged, not what the weights become.</summary>
    private static readonly HashSet<string> Bookkeeping =
        ["model", "dataset", "output", "eval-dataset", "eval-steps", "save-steps", "save-total-limit", "resume", "overwrite", "adapter",
            "save-final-optimizer"];

    public static IReadOnlyDictionary<string, string> Of(TrainingRunOptions o, ITrainingMethod method, object methodOptions)
    {
        var f = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["method"] = method.Name };
        foreach (var s in Settings.Of(typeof(TrainingRunOptions)).Where(s => !Bookkeeping.Contains(s.Name)))
            f[s.Name] = s.Format(s.Get(o));
        foreach (var s in Settings.Of(typeof(TrainerOptions)).Where(s => !Bookkeeping.Contains(s.Name)))
            f[s.Name] = s.Format(s.Get(o.Trainer));
        foreach (var s in Settings.Of(methodOptions.GetType())) f[s.Name] = s.Format(s.Get(methodOptions));
        if (o.Model is not null) f["model"] = ModelIdentity(o.Model);
        if (o.Dataset is not null) f["dataset"] = ContentHash(o.Dataset);
        if (o.Adapter is not null) f["adapter"] = ModelIdentity(o.Adapter); // the adapter a LoRA run continues, by content
        return f;
    }

    /// <summary>
    /// Refuses to continue <paramref name="checkpoint"/> with another fingerprint, naming each setting that differs.
    /// A checkpoint written before fingerprints were recorded is continued with a note that it was not checked.
    /// </summary>
    public static void Check(TrainerState saved, IReadOnlyDictionary<string, string> current, string checkpoint, Action<string>? log = null)
    {
        if (saved.Fingerprint is null)
        {
            log?.Invoke($"{checkpoint} does not record the settings it was trained with; they were not checked");
            return;
        }
        var differences = current.Keys.Where(k => saved.Fingerprint.TryGetValue(k, out var v) && v != current[k])
            .Select(k => Describe(k, saved.Fingerprint[k], current[k])).ToList();
        if (differences.Count == 0) return;
        throw new InputException($"--resume: {checkpoint} belongs to another run: {string.Join("; ", differences)}; "
            + "resume with the same settings, or start afresh with --overwrite or another --output");
    }

    private static string Describe(string key, string saved, string current) => key switch
    {
        "model" => "--model: not the model it started from (config, weights or tokenizer differ)",
        "dataset" => "--dataset: not the data it was trained on (the content differs)",
        "adapter" => "--adapter: not the adapter it started from (its config or weights differ)",
        _ => $"--{key} was {saved}, now {current}",
    };

    /// <summary>
    /// The start model's identity: its config, tokenizer files and weight files' names and sizes, with the bytes of the
    /// weight files' beginning, middle and end (any training changes those), so a copied folder is the same model and
    /// a many-gigabyte model is not read whole.
    /// </summary>
    public static string ModelIdentity(string modelDirectory)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var name in new[] { "config.json", Models.Lora.PeftAdapter.ConfigFileName }.Concat(PretrainedModelCheckpoint.TokenizerFiles))
        {
            var path = Path.Combine(modelDirectory, name);
            if (!File.Exists(path)) continue;
            hash.AppendData(Encoding.UTF8.GetBytes(name));
            hash.AppendData(File.ReadAllBytes(path));
        }
        const int Block = 1 << 20;
        foreach (var path in Directory.GetFiles(modelDirectory, "*.safetensors").Order(StringComparer.Ordinal))
        {
            using var stream = File.OpenRead(path);
            hash.AppendData(Encoding.UTF8.GetBytes($"{Path.GetFileName(path)}:{stream.Length}"));
            var buffer = new byte[Block];
            foreach (long at in new[] { 0, Math.Max(0, stream.Length / 2 - Block / 2), Math.Max(0, stream.Length - Block) }.Distinct())
            {
                stream.Position = at;
                int read = stream.ReadAtLeast(buffer, (int)Math.Min(Block, stream.Length - at), throwOnEndOfStream: false);
                hash.AppendData(buffer, 0, read);
            }
        }
        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The SHA-256 of a file's bytes.</summary>
    public static string ContentHash(string path)
    {
        using var stream = File.OpenRead(path);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

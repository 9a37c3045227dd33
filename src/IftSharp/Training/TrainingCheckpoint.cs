using System.Globalization;
using System.Text.Json;
using IftSharp.Core;
using IftSharp.Models;
using TorchSharp.Modules;

namespace IftSharp.Training;

/// <summary>How the trainer saves and restores the model's weights in a checkpoint folder.</summary>
public interface IModelCheckpoint
{
    void Save(string directory);
    void Load(string directory);
}

/// <summary>Checkpoints a <see cref="LlamaForCausalLM"/> in Hugging Face format, with the tokenizer files of its source folder.</summary>
public sealed class PretrainedModelCheckpoint(LlamaForCausalLM model, string? tokenizerDirectory = null) : IModelCheckpoint
{
    public void Save(string directory)
    {
        model.SavePretrained(directory);
        if (tokenizerDirectory is not null) CopyTokenizerFiles(tokenizerDirectory, directory);
    }

    /// <summary>The tokenizer files of a Hugging Face model folder, which travel with the model.</summary>
    public static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

    /// <summary>The tokenizer files of a Hugging Face model folder, copied beside a model saved from it.</summary>
    public static void CopyTokenizerFiles(string from, string to)
    {
        if (Path.GetFullPath(from) == Path.GetFullPath(to)) return;
        foreach (var f in TokenizerFiles)
            if (File.Exists(Path.Combine(from, f))) AtomicFile.Copy(Path.Combine(from, f), Path.Combine(to, f));
    }

    public void Load(string directory) => SafetensorsCheckpoint.Load(model, directory);
}

/// <summary>Where a run stands: enough, with the model and optimizer files, to continue it exactly.</summary>
public sealed record TrainerState(int Step, int Epoch, int Cursor, string Method, long Seed)
{
    /// <summary>The round whose data <see cref="Epoch"/> and <see cref="Cursor"/> refer to (SPIN's rounds; 0 otherwise).</summary>
    public int Round { get; init; }
    /// <summary>The settings and inputs that decide the run's trajectory (<see cref="RunFingerprint"/>); null: not recorded.</summary>
    public IReadOnlyDictionary<string, string>? Fingerprint { get; init; }
    /// <summary>The size of every other file of the checkpoint when it was written: a truncated file is found before it is read.</summary>
    public IReadOnlyDictionary<string, long>? Files { get; init; }
}

/// <summary>A complete checkpoint folder and the state it holds.</summary>
public sealed record CheckpointInfo(int Step, string Path, TrainerState State);

/// <summary>
/// Checkpoint folders <c>OUTPUT/checkpoint-STEP/</c>: the model (Hugging Face format), <c>optimizer.bin</c> and
/// <c>trainer_state.json</c>, written last with the size of every other file. Each is written into a hidden temporary
/// folder and renamed when complete, so a crash never leaves a folder that looks like a checkpoint but is not one, and
/// a failed write (a full disk) removes its temporary folder. A checkpoint damaged afterwards (a truncated file) is
/// found by <see cref="Latest"/>, which falls back to the previous good one.
/// </summary>
public static class TrainingCheckpoint
{
    private const string Prefix = "checkpoint-";
    public const string StateFile = "trainer_state.json";
    public const string OptimizerFile = "optimizer.bin";

    public static string Write(string output, TrainerState state, IModelCheckpoint model, OptimizerHelper optimizer, int? keepLast)
    {
        var final = Path.Combine(output, Prefix + state.Step);
        var temp = Path.Combine(output, "." + Prefix + state.Step + ".tmp");
        var previous = List(output).LastOrDefault(c => c.Step != state.Step).Path;
        try
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, true);
            Directory.CreateDirectory(temp);
            model.Save(temp);
            optimizer.save_state_dict(Path.Combine(temp, OptimizerFile));
            var files = Directory.GetFiles(temp).ToDictionary(f => Path.GetFileName(f), f => new FileInfo(f).Length);
            File.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(state with { Files = files }));
            if (Directory.Exists(final)) Directory.Delete(final, true);
            Directory.Move(temp, final);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDeleteDirectory(temp);
            var fallback = previous is null ? "no earlier checkpoint was kept"
                : $"the last complete checkpoint is {previous}: free some space and continue with --resume";
            throw new EnvironmentException($"{final}: could not be written ({e.Message}); {fallback}", e);
        }
        if (keepLast is int k && k > 0)
            foreach (var old in List(output).SkipLast(k)) Directory.Delete(old.Path, true);
        return final;
    }

    /// <summary>The complete checkpoints in <paramref name="output"/>, oldest first (temporary folders are ignored).</summary>
    public static IReadOnlyList<(int Step, string Path)> List(string output)
    {
        if (!Directory.Exists(output)) return [];
        return Directory.GetDirectories(output, Prefix + "*")
            .Select(d => (Ok: int.TryParse(Path.GetFileName(d)[Prefix.Length..], out var s), Step: s, Path: d))
            .Where(x => x.Ok && File.Exists(Path.Combine(x.Path, StateFile)))
            .OrderBy(x => x.Step).Select(x => (x.Step, x.Path)).ToList();
    }

    public static TrainerState ReadState(string checkpoint) =>
        TryReadState(checkpoint, out var state, out var problem) ? state! : throw new InputException(problem!);

    /// <summary>
    /// The newest checkpoint that is complete and readable, or null when there is none at all. A newer one that is not
    /// (an empty <c>trainer_state.json</c>, a truncated <c>optimizer.bin</c> or weights file) is reported through
    /// <paramref name="log"/> and, with <paramref name="removeUnreadable"/>, removed, so the run continues from the
    /// previous good one and nothing of it is mixed in. When no checkpoint is readable, the error lists what is wrong with each.
    /// </summary>
    public static CheckpointInfo? Latest(string output, Action<string>? log = null, bool removeUnreadable = true)
    {
        var all = List(output);
        var bad = new List<(string Path, string Problem)>();
        foreach (var (step, path) in Enumerable.Reverse(all))
        {
            var problem = Problem(path, out var state);
            if (problem is not null) { bad.Add((path, problem)); continue; }
            foreach (var (newer, why) in bad.Where(_ => removeUnreadable))
            {
                log?.Invoke($"{newer} is unreadable ({why}): resuming from {path} instead; removed {Path.GetFileName(newer)}");
                TryDeleteDirectory(newer);
            }
            return new CheckpointInfo(step, path, state!);
        }
        if (all.Count == 0) return null;
        throw new InputException($"--resume: no readable checkpoint in {output} ("
            + string.Join("; ", bad.Select(b => $"{Path.GetFileName(b.Path)}: {b.Problem}")) + "); start afresh with --overwrite");
    }

    /// <summary>What makes a checkpoint unusable, or null when its state parses and every file has its recorded size.</summary>
    public static string? Problem(string checkpoint, out TrainerState? state)
    {
        if (!TryReadState(checkpoint, out state, out var problem)) return problem;
        // Checkpoints written before sizes were recorded: the files must at least be there.
        var expected = state!.Files ?? new Dictionary<string, long> { [OptimizerFile] = -1, ["config.json"] = -1 };
        foreach (var (name, size) in expected)
        {
            var file = new FileInfo(Path.Combine(checkpoint, name));
            if (!file.Exists) return $"{name} is missing";
            if (size >= 0 && file.Length != size)
                return string.Create(CultureInfo.InvariantCulture, $"{name} has {file.Length:N0} bytes; {size:N0} were written");
        }
        return null;
    }

    private static bool TryReadState(string checkpoint, out TrainerState? state, out string? problem)
    {
        var path = Path.Combine(checkpoint, StateFile);
        state = null;
        problem = null;
        var text = File.ReadAllText(path);
        if (string.IsNullOrWhiteSpace(text)) { problem = $"{StateFile} is empty"; return false; }
        try { state = JsonSerializer.Deserialize<TrainerState>(text); }
        catch (JsonException e) { problem = $"{StateFile} is not valid JSON (line {(e.LineNumber ?? 0) + 1})"; return false; }
        if (state?.Method is null) { problem = $"{StateFile} holds no trainer state"; return false; }
        return true;
    }

    private static void TryDeleteDirectory(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

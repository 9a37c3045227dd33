using System.Text.Json;
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

    /// <summary>The tokenizer files of a Hugging Face model folder, copied beside a model saved from it.</summary>
    public static void CopyTokenizerFiles(string from, string to)
    {
        if (Path.GetFullPath(from) == Path.GetFullPath(to)) return;
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            if (File.Exists(Path.Combine(from, f))) File.Copy(Path.Combine(from, f), Path.Combine(to, f), true);
    }

    public void Load(string directory) => SafetensorsCheckpoint.Load(model, directory);
}

/// <summary>Where a run stands: enough, with the model and optimizer files, to continue it exactly.</summary>
public sealed record TrainerState(int Step, int Epoch, int Cursor, string Method, long Seed)
{
    /// <summary>The round whose data <see cref="Epoch"/> and <see cref="Cursor"/> refer to (SPIN's rounds; 0 otherwise).</summary>
    public int Round { get; init; }
}

/// <summary>
/// Checkpoint folders <c>OUTPUT/checkpoint-STEP/</c>: the model (Hugging Face format), <c>optimizer.bin</c> and
/// <c>trainer_state.json</c>. Each is written into a hidden temporary folder and renamed when complete, so a crash
/// never leaves a folder that looks like a checkpoint but is not one.
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
        if (Directory.Exists(temp)) Directory.Delete(temp, true);
        Directory.CreateDirectory(temp);
        model.Save(temp);
        optimizer.save_state_dict(Path.Combine(temp, OptimizerFile));
        File.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(state));
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(temp, final);
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
        JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(Path.Combine(checkpoint, StateFile)))
        ?? throw new Core.InputException($"{Path.Combine(checkpoint, StateFile)}: empty trainer state");
}

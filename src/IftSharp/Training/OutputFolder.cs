using IftSharp.Core;

namespace IftSharp.Training;

/// <summary>
/// A training run's claim on its <c>--output</c> folder, held for the run's lifetime: an OS-level lock on the folder
/// (<see cref="FolderLock"/>, released by the kernel if the process dies) refuses a second run into the same folder,
/// and a new run is refused a folder that holds another run's files unless it resumes that run (<c>--resume</c>) or
/// replaces it (<c>--overwrite</c>, which clears the run's files once every input has been read). Files that are not a
/// run's are never touched. A run that fails or is interrupted before it wrote anything leaves the folder as it was.
/// </summary>
public sealed class OutputFolder : IDisposable
{
    private readonly FolderLock _lock;
    private readonly bool _created;

    private OutputFolder(string path, FolderLock held, bool created)
    {
        Path = path;
        _lock = held;
        _created = created;
    }

    public string Path { get; }

    /// <summary>
    /// Takes the folder for a run: checks the path is a writable folder (creating it), takes the lock, and refuses a
    /// folder holding another run's files unless <paramref name="resume"/> or <paramref name="overwrite"/>.
    /// </summary>
    public static OutputFolder Claim(string path, bool resume, bool overwrite)
    {
        if (resume && overwrite)
            throw new InputException("--overwrite, --resume: choose one (--resume continues the run in --output, --overwrite replaces it)");
        if (File.Exists(path)) throw new EnvironmentException($"--output: {path} is a file; expected a folder (choose another --output)");
        bool created = !Directory.Exists(path);
        try { Directory.CreateDirectory(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EnvironmentException($"--output: cannot create the folder {path} ({e.Message}); choose a writable --output", e);
        }
        var probe = System.IO.Path.Combine(path, $".iftsharp-write-test-{Environment.ProcessId}");
        try
        {
            File.WriteAllText(probe, ""); // a read-only folder is refused now, not after the data and the model were read
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (created) TryRemoveEmpty(path);
            throw new EnvironmentException($"--output: cannot write into {path} ({e.Message}); choose a writable --output", e);
        }
        var held = FolderLock.TryAcquire(path)
            ?? throw new EnvironmentException($"--output: another training run is writing to {path}; "
                + "wait for it to finish, or choose another --output");
        var folder = new OutputFolder(path, held, created);
        try
        {
            var existing = RunFiles(path);
            bool hasCheckpoint = TrainingCheckpoint.List(path).Count > 0;
            if (resume && !hasCheckpoint)
                throw new InputException($"--resume: no checkpoint-* folder in {path}; start without --resume"
                    + (existing.Count > 0 ? " and with --overwrite to replace what is there" : ""));
            if (!resume && !overwrite && existing.Count > 0)
                throw new InputException($"--output: {path} already holds a training run ({Describe(existing)}); "
                    + "continue it with --resume, replace it with --overwrite, or choose another --output");
            if (resume) folder.RemoveLeftovers();
            return folder;
        }
        catch
        {
            folder.Dispose();
            throw;
        }
    }

    /// <summary>Removes every file of an earlier run (<c>--overwrite</c>); call it once the new run's inputs have been read.</summary>
    public void Clear()
    {
        foreach (var entry in RunFiles(Path))
        {
            if (Directory.Exists(entry)) Directory.Delete(entry, true);
            else File.Delete(entry);
        }
    }

    /// <summary>Temporary files and folders a killed run left (nothing else writes here while the lock is held).</summary>
    private void RemoveLeftovers()
    {
        foreach (var entry in RunFiles(Path).Where(e => IsTemporary(System.IO.Path.GetFileName(e))))
        {
            if (Directory.Exists(entry)) Directory.Delete(entry, true);
            else File.Delete(entry);
        }
    }

    private static bool IsTemporary(string name) =>
        name.EndsWith(".tmp", StringComparison.Ordinal) || name.Contains(".tmp.", StringComparison.Ordinal);

    /// <summary>
    /// On resume from a checkpoint in round <paramref name="round"/> (0-based): SPIN's pair files of later rounds go, so
    /// they are generated again from the resumed run's own models.
    /// </summary>
    public void DropRoundsAfter(int round)
    {
        foreach (var file in Directory.GetFiles(Path, "spin-round-*.jsonl"))
        {
            var number = System.IO.Path.GetFileNameWithoutExtension(file)["spin-round-".Length..];
            if (int.TryParse(number, out var k) && k > round + 1) File.Delete(file);
        }
    }

    /// <summary>
    /// Copies the model (or LoRA adapter) of a finished checkpoint, with its tokenizer files, into the folder as the final
    /// model; its optimizer state too when <paramref name="withOptimizer"/> (<c>--save-final-optimizer</c>).
    /// </summary>
    public void WriteFinalModel(string checkpoint, bool withOptimizer = false)
    {
        foreach (var file in Directory.GetFiles(checkpoint))
        {
            var name = System.IO.Path.GetFileName(file);
            if (name is TrainingCheckpoint.StateFile || (name is TrainingCheckpoint.OptimizerFile && !withOptimizer)) continue;
            AtomicFile.Copy(file, System.IO.Path.Combine(Path, name));
        }
    }

    /// <summary>Releases the lock; a folder this run created and left empty is removed again.</summary>
    public void Dispose()
    {
        _lock.Dispose();
        if (_created) TryRemoveEmpty(Path);
    }

    /// <summary>
    /// What a run writes into its folder: checkpoints (and their temporary folders), <c>metrics.jsonl</c> and its plot,
    /// SPIN's round files, the final model and tokenizer files, and the temporary files of any of them.
    /// </summary>
    public static IReadOnlyList<string> RunFiles(string path)
    {
        if (!Directory.Exists(path)) return [];
        return Directory.EnumerateFileSystemEntries(path).Where(e => IsRunFile(System.IO.Path.GetFileName(e)))
            .Order(StringComparer.Ordinal).ToList();
    }

    private static bool IsRunFile(string name)
    {
        if (name == FolderLock.FallbackFile) return false;
        if (name.StartsWith("checkpoint-", StringComparison.Ordinal) || name.StartsWith(".checkpoint-", StringComparison.Ordinal))
            return true;
        foreach (var suffix in new[] { ".tmp", ".tmp.png" })
            if (name.EndsWith(suffix, StringComparison.Ordinal)) name = name[..^suffix.Length] + (suffix == ".tmp.png" ? ".png" : "");
        return name is "metrics.jsonl" or "metrics.png" or "config.json" or "generation_config.json" or "model.safetensors"
                   or "model.safetensors.index.json" or TrainingCheckpoint.OptimizerFile
                   or Models.Lora.PeftAdapter.ConfigFileName or Models.Lora.PeftAdapter.WeightsFileName
               || PretrainedModelCheckpoint.TokenizerFiles.Contains(name)
               || (name.StartsWith("model-", StringComparison.Ordinal) && name.EndsWith(".safetensors", StringComparison.Ordinal))
               || (name.StartsWith("spin-round-", StringComparison.Ordinal) && name.EndsWith(".jsonl", StringComparison.Ordinal));
    }

    private static string Describe(IReadOnlyList<string> entries)
    {
        var names = entries.Select(e => System.IO.Path.GetFileName(e)).ToList();
        return string.Join(", ", names.Take(4)) + (names.Count > 4 ? $" and {names.Count - 4} more" : "");
    }

    private static void TryRemoveEmpty(string path)
    {
        try { if (Directory.Exists(path) && !Directory.EnumerateFileSystemEntries(path).Any()) Directory.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

}

using IftSharp.Core;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Tokenization;

namespace IftSharp.Training;

/// <summary>A training run from a model folder and a dataset file: what <c>iftsharp train</c> takes.</summary>
public sealed record TrainingRunOptions
{
    [Setting("method", "The training method (see the list above)")]
    public string Method { get; init; } = "ift";
    [Setting("model", "Model folder to start from (config.json, model.safetensors, tokenizer files)")]
    public string? Model { get; init; }
    [Setting("dataset", "Training data, JSONL (or Parquet when the name ends in .parquet), in the method's shape")]
    public string? Dataset { get; init; }
    [Setting("output", "Folder for the trained model, metrics.jsonl and checkpoints")]
    public string? Output { get; init; }
    [Setting("overwrite", "Replace the training run already in --output (checkpoints, metrics, model, SPIN rounds) instead of refusing")]
    public bool Overwrite { get; init; }
    [Setting("eval-dataset", "Held-out data in the same shape; its mean loss is logged as eval_loss every --eval-steps")]
    public string? EvalDataset { get; init; }
    [Setting("max-length", "Tokens per sequence; longer sequences are cut on the right", Min = 1)]
    public int MaxLength { get; init; } = 512;
    [Setting("max-prompt-length", "Keep only the last N prompt tokens (TRL: the prompt is cut on the left, then the sequence on the right)", Min = 1)]
    public int? MaxPromptLength { get; init; }
    [Setting("precompute-ref-logps", "Compute the reference model's log-probs once before training, then free the reference model")]
    public bool PrecomputeReferenceLogps { get; init; }
    [Setting("allow-invalid-utf8", "Read invalid UTF-8 in the dataset as U+FFFD instead of stopping at its line")]
    public bool AllowInvalidUtf8 { get; init; }
    [Setting("bf16", "bfloat16 mixed precision: bf16 forward and backward, float32 master weights and optimizer state, float32 losses")]
    public bool Bf16 { get; init; }
    /// <summary>The loop's settings (the output folder is <see cref="Output"/>).</summary>
    public TrainerOptions Trainer { get; init; } = new();
    /// <summary>The method's options record; null takes its defaults.</summary>
    public object? MethodOptions { get; init; }
}

/// <summary>What a run reports as it goes.</summary>
public sealed record TrainingRunCallbacks
{
    /// <summary>Once the data is read, before the model loads: the method, the number of items and what they are.</summary>
    public Action<ITrainingMethod, MethodData>? OnStart { get; init; }
    public Action<StepMetrics>? OnStep { get; init; }
    public Action<string>? Log { get; init; }
    public CancellationToken Cancel { get; init; }
}

/// <summary>How a run ended.</summary>
public sealed record TrainingRunResult(ITrainingMethod Method, IReadOnlyList<StepMetrics> History, string Output, bool Interrupted,
    string? LastCheckpoint)
{
    /// <summary>
    /// Set when <c>--resume</c> found the newest checkpoint at <c>--max-steps</c> already: nothing was trained and the
    /// final model was written from this checkpoint (a crash during the final save).
    /// </summary>
    public string? FinishedFrom { get; init; }
}

/// <summary>
/// One training run, the way the CLI, <c>compare</c> and <c>demo</c> train: claims the output folder (one run per
/// folder, <see cref="OutputFolder"/>), reads the data through the method, loads the policy (and the frozen reference
/// only when the method needs one), makes the bf16 compute copy, runs the <see cref="Trainer"/> loop with checkpoints
/// and <c>metrics.jsonl</c>, and saves the model with its tokenizer files. Every input is read before anything in the
/// folder changes.
/// </summary>
public static class TrainingRun
{
    public static TrainingRunResult Run(TrainingRunOptions o, TrainingRunCallbacks? callbacks = null)
    {
        callbacks ??= new TrainingRunCallbacks();
        var method = MethodRegistry.Get(o.Method);
        var methodOptions = o.MethodOptions ?? method.Defaults;
        Settings.Validate(o);
        Settings.Validate(o.Trainer);
        method.Validate(methodOptions, o.Trainer);
        string modelDir = o.Model ?? throw new InputException("--model: missing; expected the model folder to start from");
        string dataset = o.Dataset ?? throw new InputException("--dataset: missing; expected the training data file");
        string output = o.Output ?? throw new InputException("--output: missing; expected a folder for the trained model");
        if (o.PrecomputeReferenceLogps && !method.SupportsPrecomputedReference)
            throw new InputException(method.NeedsReference
                ? $"--precompute-ref-logps: --method {method.Name} cannot precompute its reference log-probs (they depend on each batch)"
                : $"--precompute-ref-logps: --method {method.Name} has no reference model");
        if (o.EvalDataset is not null && !method.SupportsEvaluation)
            throw new InputException($"--eval-dataset: --method {method.Name} does not support an evaluation loss");
        if (Path.GetFullPath(output).TrimEnd('/') == Path.GetFullPath(modelDir).TrimEnd('/'))
            throw new InputException($"--output: {output} is the --model folder; the trained model would replace the one it starts from "
                + "(choose another --output)");

        using var folder = OutputFolder.Claim(output, o.Trainer.Resume, o.Overwrite);
        var (tokenizer, template) = TokenizerLoader.Load(modelDir);
        var configPath = Path.Combine(modelDir, "config.json");
        ModelChecks.VocabularyCovers(DecoderConfig.Load(configPath), tokenizer, configPath);
        var request = new DataRequest(tokenizer, template, o.MaxLength, o.MaxPromptLength)
        {
            AllowInvalidUtf8 = o.AllowInvalidUtf8, Warn = line => callbacks.Log?.Invoke("warning: " + line),
        };
        var train = method.Read(dataset, request);
        var eval = o.EvalDataset is null ? null : method.Read(o.EvalDataset, request);
        callbacks.OnStart?.Invoke(method, train);

        var fingerprint = RunFingerprint.Of(o, method, methodOptions);
        CheckpointInfo? resumed = null;
        if (o.Trainer.Resume)
        {
            var found = TrainingCheckpoint.Latest(output, removeUnreadable: false)
                ?? throw new InputException($"--resume: no checkpoint-* folder in {output}");
            RunFingerprint.Check(found.State, fingerprint, found.Path, callbacks.Log);
            resumed = TrainingCheckpoint.Latest(output, callbacks.Log)!; // the same one; now the unreadable newer ones go, with a word
            folder.DropRoundsAfter(resumed.State.Round);
            if (resumed.Step >= o.Trainer.MaxSteps) // it finished training; the final save is what may be missing
            {
                folder.WriteFinalModel(resumed.Path);
                callbacks.Log?.Invoke($"{resumed.Path} is at --max-steps {o.Trainer.MaxSteps}: training had finished; "
                    + $"wrote the final model to {output} from it");
                return new TrainingRunResult(method, [], output, Interrupted: false, resumed.Path) { FinishedFrom = resumed.Path };
            }
        }
        TrainingRunResult Stopped() => new(method, [], output, Interrupted: true, resumed?.Path);
        if (callbacks.Cancel.IsCancellationRequested) return Stopped();

        using var policy = LlamaForCausalLM.FromPretrained(modelDir);
        // The compute copy is overwritten from the masters before every step: allocated, never initialised.
        using var compute = o.Bf16 ? new LlamaForCausalLM(policy.Config, ParameterAllocation.Uninitialized(TorchSharp.torch.ScalarType.BFloat16)) : null;
        LlamaForCausalLM? reference = null;
        if (method.NeedsReference)
        {
            reference = LlamaForCausalLM.FromPretrained(modelDir);
            foreach (var p in reference.parameters()) p.requires_grad = false;
        }
        var session = new TrainingSession
        {
            Model = policy, ComputeCopy = compute, InitialReference = reference, OwnsReference = true,
            PrecomputeReference = o.PrecomputeReferenceLogps, PadId = tokenizer.PadTokenId ?? tokenizer.EosTokenId ?? 0,
            Tokenizer = tokenizer, Template = template, MaxLength = o.MaxLength, Fingerprint = fingerprint,
            Options = o.Trainer with { OutputDirectory = output }, Checkpoint = new PretrainedModelCheckpoint(policy, modelDir),
            OnStep = callbacks.OnStep, Log = callbacks.Log, Cancel = callbacks.Cancel,
        };
        if (callbacks.Cancel.IsCancellationRequested) { session.ReleaseReference(); return Stopped(); }
        if (o.Overwrite) folder.Clear(); // only now: every input has been read and the model loads
        IReadOnlyList<StepMetrics> history;
        try { history = method.Train(session, train, eval, methodOptions); }
        finally { session.ReleaseReference(); }

        var checkpoints = TrainingCheckpoint.List(output);
        string? last = checkpoints.Count > 0 ? checkpoints[^1].Path : null;
        if (callbacks.Cancel.IsCancellationRequested && (history.Count == 0 || history[^1].Step < o.Trainer.MaxSteps))
            return new TrainingRunResult(method, history, output, Interrupted: true, last);
        try
        {
            policy.SavePretrained(output);
            PretrainedModelCheckpoint.CopyTokenizerFiles(modelDir, output);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var fallback = last is null ? "no checkpoint was kept (--save-steps 0)"
                : $"{last} holds it: free some space and run again with --resume to write it";
            throw new EnvironmentException($"{output}: the final model could not be written ({e.Message}); {fallback}", e);
        }
        return new TrainingRunResult(method, history, output, Interrupted: false, last);
    }
}

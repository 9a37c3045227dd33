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
    string? LastCheckpoint);

/// <summary>
/// One training run, the way the CLI, <c>compare</c> and <c>demo</c> train: reads the data through the method, loads
/// the policy (and the frozen reference only when the method needs one), makes the bf16 compute copy, runs the
/// <see cref="Trainer"/> loop with checkpoints and <c>metrics.jsonl</c>, and saves the model with its tokenizer files.
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
            Tokenizer = tokenizer, Template = template, MaxLength = o.MaxLength,
            Options = o.Trainer with { OutputDirectory = output }, Checkpoint = new PretrainedModelCheckpoint(policy, modelDir),
            OnStep = callbacks.OnStep, Log = callbacks.Log, Cancel = callbacks.Cancel,
        };
        IReadOnlyList<StepMetrics> history;
        try { history = method.Train(session, train, eval, methodOptions); }
        finally { session.ReleaseReference(); }

        var checkpoints = TrainingCheckpoint.List(output);
        string? last = checkpoints.Count > 0 ? checkpoints[^1].Path : null;
        if (callbacks.Cancel.IsCancellationRequested && (history.Count == 0 || history[^1].Step < o.Trainer.MaxSteps))
            return new TrainingRunResult(method, history, output, Interrupted: true, last);
        if (history.Count == 0)
            throw new InputException($"--resume: the newest checkpoint in {output} is already at --max-steps {o.Trainer.MaxSteps}");
        policy.SavePretrained(output);
        PretrainedModelCheckpoint.CopyTokenizerFiles(modelDir, output);
        return new TrainingRunResult(method, history, output, Interrupted: false, last);
    }
}

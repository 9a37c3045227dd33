using IftSharp.Core;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Tokenization;
using TorchSharp.Modules;
using static TorchSharp.torch;

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
    [Setting("bf16", "bfloat16 mixed precision: bf16 forward and backward, float32 master weights and optimizer state, float32 "
        + "losses; with LoRA the frozen base is held in bf16 only and the adapter in float32")]
    public bool Bf16 { get; init; }

    // LoRA (PEFT's LoraConfig): the base model frozen, a rank-r update B·A·scaling trained on each targeted projection.
    [Setting("lora-r", "Train a LoRA adapter of rank R instead of the whole model (the base stays frozen); the output folder "
        + "is then a PEFT adapter folder", Min = 1)]
    public int? LoraR { get; init; }
    [Setting("lora-alpha", "LoRA's alpha: the update is scaled by alpha / r (alpha / sqrt(r) with --use-rslora); default 2r",
        Min = 0, MinExclusive = true)]
    public double? LoraAlpha { get; init; }
    [Setting("lora-dropout", "Dropout on each adapted projection's input to A, in training only", Min = 0, Max = 1, MaxExclusive = true)]
    public double LoraDropout { get; init; }
    [Setting("lora-target-modules", "The projections LoRA adapts: a comma-separated list of q_proj, k_proj, v_proj, o_proj, "
        + "gate_proj, up_proj, down_proj, or all-linear (every one of them)")]
    public string LoraTargetModules { get; init; } = Models.Lora.LoraConfig.AllLinear;
    [Setting("use-rslora", "rsLoRA: scale the update by alpha / sqrt(r) instead of alpha / r")]
    public bool UseRslora { get; init; }
    [Setting("adapter", "Continue training this LoRA adapter folder (PEFT's format) on --model; its adapter_config.json gives "
        + "the LoRA settings")]
    public string? Adapter { get; init; }

    // Memory: what a step holds.
    [Setting("gradient-checkpointing", "Recompute each decoder layer in backward instead of keeping its activations (about one "
        + "more forward pass of compute, far less memory)")]
    public bool GradientCheckpointing { get; init; }
    [Setting("logits-chunk", "Apply the LM head N positions at a time in every pass (policy, reference, IFT's two passes), so "
        + "the [batch, length, vocabulary] logits and their gradient never exist at once", Min = 1)]
    public int? LogitsChunk { get; init; }
    [Setting("ref-dtype", "The dtype a live reference model is held in: float32, or bf16 (half its memory; log-probs from "
        + "bf16 weights); with LoRA the reference is the base itself with the adapter off")]
    public ReferenceDtype RefDtype { get; init; } = ReferenceDtype.Float32;
    [Setting("save-final-optimizer", "Also write the optimizer state (optimizer.bin) beside the final model or adapter in "
        + "--output; checkpoints always hold theirs")]
    public bool SaveFinalOptimizer { get; init; }

    /// <summary>Whether the run trains a LoRA adapter (<see cref="LoraR"/> or <see cref="Adapter"/>).</summary>
    public bool UsesLora => LoraR is not null || Adapter is not null;
    /// <summary>The loop's settings (the output folder is <see cref="Output"/>).</summary>
    public TrainerOptions Trainer { get; init; } = new();
    /// <summary>The method's options record; null takes its defaults.</summary>
    public object? MethodOptions { get; init; }
}

/// <summary>The dtype a live reference model is held in (<c>--ref-dtype</c>).</summary>
public enum ReferenceDtype { Float32, Bf16 }

/// <summary>What a run reports as it goes.</summary>
public sealed record TrainingRunCallbacks
{
    /// <summary>Once the data is read, before the model loads: the method, the number of items and what they are.</summary>
    public Action<ITrainingMethod, MethodData>? OnStart { get; init; }
    public Action<StepMetrics>? OnStep { get; init; }
    public Action<string>? Log { get; init; }
    public CancellationToken Cancel { get; init; }
    /// <summary>
    /// Once the models are loaded (and the adapter injected), before the first step: the session that will train, for
    /// callers that inspect what is held (the benchmark, the tests).
    /// </summary>
    public Action<TrainingSession>? OnSession { get; init; }
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
/// folder changes. With LoRA the base is loaded once (in bfloat16 under <c>--bf16</c>: no float32 copy of frozen
/// weights), the adapter is injected (or read from <c>--adapter</c>) and is all that trains, is checkpointed and is
/// saved; a method's reference is the same model with the adapter off.
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
        var lora = LoraSettings(o);
        if (o.RefDtype != ReferenceDtype.Float32)
        {
            if (!method.NeedsReference) throw new InputException($"--ref-dtype: --method {method.Name} has no reference model");
            if (lora is not null)
                throw new InputException("--ref-dtype: with LoRA the reference is the base model itself (the adapter turned off), "
                    + "held as the base is (bf16 with --bf16)");
        }

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
                folder.WriteFinalModel(resumed.Path, o.SaveFinalOptimizer);
                callbacks.Log?.Invoke($"{resumed.Path} is at --max-steps {o.Trainer.MaxSteps}: training had finished; "
                    + $"wrote the final model to {output} from it");
                return new TrainingRunResult(method, [], output, Interrupted: false, resumed.Path) { FinishedFrom = resumed.Path };
            }
        }
        TrainingRunResult Stopped() => new(method, [], output, Interrupted: true, resumed?.Path);
        if (callbacks.Cancel.IsCancellationRequested) return Stopped();

        // A frozen LoRA base under --bf16 lives in bfloat16 only; everything else loads in float32.
        var baseDtype = lora is not null && o.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
        using var policy = LlamaForCausalLM.FromPretrained(modelDir, baseDtype);
        policy.GradientCheckpointing = o.GradientCheckpointing;
        LoraAdapter? adapter = lora is null ? null
            : o.Adapter is not null ? PeftAdapter.Load(policy, o.Adapter, trainable: true)
            : LoraAdapter.Inject(policy, lora, seed: o.Trainer.Seed);
        // The compute copy is overwritten from the masters before every step: allocated, never initialised.
        using var compute = o.Bf16 && adapter is null
            ? new LlamaForCausalLM(policy.Config, ParameterAllocation.Uninitialized(ScalarType.BFloat16))
            { GradientCheckpointing = o.GradientCheckpointing }
            : null;
        ICausalLM? reference = null;
        if (method.NeedsReference)
        {
            if (adapter is not null) reference = new AdapterOffModel(policy);
            else
            {
                var frozen = LlamaForCausalLM.FromPretrained(modelDir,
                    o.RefDtype == ReferenceDtype.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32);
                foreach (var p in frozen.parameters()) p.requires_grad = false;
                reference = frozen;
            }
        }
        IModelCheckpoint checkpoint = adapter is null ? new PretrainedModelCheckpoint(policy, modelDir)
            : new LoraAdapterCheckpoint(adapter, modelDir, modelDir);
        OptimizerHelper? finalOptimizer = null;
        var session = new TrainingSession
        {
            Model = policy, ComputeCopy = compute, InitialReference = reference, OwnsReference = adapter is null,
            PrecomputeReference = o.PrecomputeReferenceLogps, PadId = tokenizer.PadTokenId ?? tokenizer.EosTokenId ?? 0,
            Tokenizer = tokenizer, Template = template, MaxLength = o.MaxLength, Fingerprint = fingerprint,
            Options = o.Trainer with { OutputDirectory = output }, Checkpoint = checkpoint, LogitsChunk = o.LogitsChunk,
            OnStep = callbacks.OnStep, Log = callbacks.Log, Cancel = callbacks.Cancel, OnFinished = opt => finalOptimizer = opt,
        };
        if (adapter is not null)
            callbacks.Log?.Invoke($"LoRA: {adapter.Modules.Count} projections adapted, {adapter.ParameterCount:N0} trainable parameters "
                + $"(r {adapter.Config.R}, alpha {adapter.Config.LoraAlpha:G}); the base is frozen in {baseDtype}");
        callbacks.OnSession?.Invoke(session);
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
            checkpoint.Save(output); // the model, or the adapter, with the tokenizer files
            if (o.SaveFinalOptimizer && finalOptimizer is not null)
            {
                var path = Path.Combine(output, TrainingCheckpoint.OptimizerFile);
                finalOptimizer.save_state_dict(path + ".tmp");
                File.Move(path + ".tmp", path, overwrite: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var fallback = last is null ? "no checkpoint was kept (--save-steps 0)"
                : $"{last} holds it: free some space and run again with --resume to write it";
            throw new EnvironmentException($"{output}: the final model could not be written ({e.Message}); {fallback}", e);
        }
        return new TrainingRunResult(method, history, output, Interrupted: false, last);
    }

    /// <summary>
    /// The LoRA settings of the run, or null without LoRA: from the flags, or from <c>--adapter</c>'s
    /// <c>adapter_config.json</c> (read now, before anything loads).
    /// </summary>
    private static LoraConfig? LoraSettings(TrainingRunOptions o)
    {
        if (o.Adapter is not null)
        {
            if (!Directory.Exists(o.Adapter)) throw new InputException($"--adapter: {o.Adapter} is not a folder; expected a PEFT adapter folder");
            var saved = PeftAdapter.ReadConfig(o.Adapter);
            if (o.LoraR is int r && r != saved.R)
                throw new InputException($"--lora-r: {r}, but --adapter {o.Adapter} has r {saved.R} (its adapter_config.json decides)");
            return saved;
        }
        return o.LoraR is int rank
            ? LoraConfig.FromOptions(rank, o.LoraAlpha, o.LoraDropout, o.LoraTargetModules, o.UseRslora)
            : null;
    }
}

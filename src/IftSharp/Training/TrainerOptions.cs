using IftSharp.Core;

namespace IftSharp.Training;

/// <summary>Settings of the training loop, the same for every method; defaults suit the tiny demo models.</summary>
public sealed record TrainerOptions
{
    [Setting("learning-rate", "Peak learning rate", Min = 0)]
    public double LearningRate { get; init; } = 1e-3;
    [Setting("max-steps", "Optimizer steps", Min = 1)]
    public int MaxSteps { get; init; } = 300;
    [Setting("batch-size", "Rows per micro-batch (conversations, pairs, groups)", Min = 1)]
    public int BatchSize { get; init; } = 16;
    [Setting("seed", "Seed of the data order (and of any sampling a method does)")]
    public long Seed { get; init; }
    [Setting("scheduler", "Learning-rate decay after the warm-up: constant, linear or cosine")]
    public ScheduleKind Scheduler { get; init; } = ScheduleKind.Cosine;
    [Setting("warmup-ratio", "Fraction of the steps spent in linear warm-up", Min = 0, Max = 1)]
    public double WarmupRatio { get; init; } = 0.1;
    [Setting("max-grad-norm", "Clip the gradient's norm to this (0: no clipping)", Min = 0, MinExclusive = true, Off = 0)]
    public double MaxGradNorm { get; init; } = 1.0;
    [Setting("weight-decay", "Decoupled weight decay (AdamW) or L2 penalty (RMSprop)", Min = 0)]
    public double WeightDecay { get; init; }
    /// <summary>Micro-batches whose gradients add up to one optimizer step (each loss divided by this).</summary>
    [Setting("grad-accum", "Micro-batches per optimizer step (gradient accumulation)", Min = 1)]
    public int GradientAccumulationSteps { get; init; } = 1;
    [Setting("optimizer", "adamw or rmsprop (the official IFT recipe's)")]
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.AdamW;
    /// <summary>
    /// Batch items of similar length together (less padding, faster steps), as <c>group_by_length</c> in <c>transformers</c>.
    /// </summary>
    [Setting("group-by-length", "Batch rows of similar length together (less padding), as transformers' group_by_length")]
    public bool GroupByLength { get; init; }
    /// <summary>Save a checkpoint every this many optimizer steps (0: none, except on Ctrl-C).</summary>
    [Setting("save-steps", "Write OUTPUT/checkpoint-STEP (model or adapter, optimizer state) every N steps and at the end, "
        + "for --resume; 0: none, except where Ctrl-C stops the run", Min = 0)]
    public int SaveSteps { get; init; }
    /// <summary>Keep only the newest this many checkpoints (null: all).</summary>
    [Setting("save-total-limit", "Keep only the newest N checkpoints", Min = 1)]
    public int? SaveTotalLimit { get; init; }
    /// <summary>Log <c>eval_loss</c> on the evaluation data every this many steps (and at the last step); 0: never.</summary>
    [Setting("eval-steps", "Log eval_loss on --eval-dataset every N steps and at the last step", Min = 1)]
    public int EvalSteps { get; init; } = 50;
    /// <summary>Continue from the newest checkpoint in <see cref="OutputDirectory"/>.</summary>
    [Setting("resume", "Continue from the newest checkpoint in --output (see --save-steps): the same per-step losses as an "
        + "uninterrupted run")]
    public bool Resume { get; init; }
    /// <summary>Where <c>metrics.jsonl</c> is appended and checkpoints go; null writes nothing.</summary>
    public string? OutputDirectory { get; init; }
}

public enum OptimizerKind { AdamW, RMSprop }

/// <summary>What one optimizer step reports (TRL's names in <see cref="Objective"/>).</summary>
public sealed record StepMetrics(int Step, double Epoch, double Loss, double LearningRate, double GradNorm, double TokensPerSecond,
    IReadOnlyDictionary<string, double> Objective)
{
    /// <summary>Wall-clock seconds of the optimizer step (forward, backward, clipping, update, logging).</summary>
    public double Seconds { get; init; }
}

namespace IftSharp.Training;

/// <summary>Settings of a training run; defaults suit the tiny demo models.</summary>
public sealed record TrainerOptions
{
    /// <summary><c>sft</c> or <c>ift</c> (the single-target methods).</summary>
    public string Method { get; init; } = "ift";
    public double LearningRate { get; init; } = 1e-3;
    public int MaxSteps { get; init; } = 300;
    public int BatchSize { get; init; } = 16;
    public long Seed { get; init; }
    public ScheduleKind Scheduler { get; init; } = ScheduleKind.Cosine;
    public double WarmupRatio { get; init; } = 0.1;
    public double MaxGradNorm { get; init; } = 1.0;
    public double WeightDecay { get; init; }
    /// <summary>The preference methods' β; null takes each method's paper default.</summary>
    public double? Beta { get; init; }
    /// <summary>EXO's reward temperature β_r (reward form only; official scripts: 0.5).</summary>
    public double BetaR { get; init; } = 0.5;
    public double Lambda { get; init; } = 0.2;
    public double Gamma { get; init; } = 0.95;
    /// <summary>Micro-batches whose gradients add up to one optimizer step (each loss divided by this).</summary>
    public int GradientAccumulationSteps { get; init; } = 1;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.AdamW;
    /// <summary>Batch items of similar length together (less padding, faster steps), as <c>group_by_length</c> in <c>transformers</c>.</summary>
    public bool GroupByLength { get; init; }
    /// <summary>Save a checkpoint every this many optimizer steps (0: only at the end and on cancellation).</summary>
    public int SaveSteps { get; init; }
    /// <summary>Keep only the newest this many checkpoints (null: all).</summary>
    public int? SaveTotalLimit { get; init; }
    /// <summary>Log <c>eval_loss</c> on the evaluation data every this many steps (and at the last step); 0: never.</summary>
    public int EvalSteps { get; init; }
    /// <summary>Continue from the newest checkpoint in <see cref="OutputDirectory"/>.</summary>
    public bool Resume { get; init; }
    /// <summary>Where <c>metrics.jsonl</c> is appended and checkpoints go; null writes nothing.</summary>
    public string? OutputDirectory { get; init; }
}

public enum OptimizerKind { AdamW, RMSprop }

/// <summary>What one optimizer step reports (TRL's names in <see cref="Objective"/>).</summary>
public sealed record StepMetrics(int Step, double Epoch, double Loss, double LearningRate, double GradNorm, double TokensPerSecond,
    IReadOnlyDictionary<string, double> Objective);

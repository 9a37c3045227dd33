namespace IftSharp.Evaluation;

/// <summary>
/// A model's scores: exact-match accuracy on reasoning and fact following, multiple-choice accuracy, held-out perplexity.
/// </summary>
public sealed record TaskScores(double Reasoning, double FactFollowing, double MultipleChoice, double Perplexity)
{
    /// <summary>
    /// The mean of the three accuracies (perplexity is on another scale and stays out, as the paper's average leaves
    /// out MT-Bench).
    /// </summary>
    public double Average => (Reasoning + FactFollowing + MultipleChoice) / 3;
}

/// <summary>
/// A model's scores on the evaluation split with every item's outcome (right or wrong, in item order), which the
/// paired bootstrap resamples; <see cref="Seconds"/> is how long scoring took.
/// </summary>
public sealed record ItemScores(TaskScores Scores, IReadOnlyList<bool> Reasoning, IReadOnlyList<bool> FactFollowing,
    IReadOnlyList<bool> MultipleChoice, double Seconds);

/// <summary>A checkpoint's accuracies on the validation split (what checkpoints and learning rates are chosen by).</summary>
public sealed record ValidationScore(int Step, double Reasoning, double FactFollowing, double MultipleChoice, double Seconds)
{
    public double Average => (Reasoning + FactFollowing + MultipleChoice) / 3;
}

/// <summary>
/// One trained model of the comparison at one learning rate: the final model and the checkpoint the validation
/// split chose (the best validation average, the latest on a tie), both scored on the evaluation split.
/// </summary>
public sealed record CompareRun(string Method, int Seed, double LearningRate, ItemScores Final, ItemScores Selected, int SelectedStep,
    IReadOnlyList<ValidationScore> Validation, double TrainSeconds, string ModelDirectory)
{
    public TaskScores Scores => Final.Scores;

    /// <summary>The validation average of the chosen checkpoint: what the learning rate is chosen by.</summary>
    public double BestValidation => Validation.Max(v => v.Average);
}

/// <summary>Where a seed's preference pairs came from: rejected answers the base model produced, or corrupted solutions.</summary>
public sealed record PreferenceDataSummary(int Seed, int Pairs, int SampledRejected, int CorruptedRejected, string Directory);

/// <summary>Seconds spent in each kind of stage (summed over the stage folders, so a resumed run counts them once).</summary>
public sealed record StageSeconds(double Pretraining, double Sampling, double Training, double Validation, double Evaluation)
{
    public double Total => Pretraining + Sampling + Training + Validation + Evaluation;
}

public sealed record CompareResult(CompareSettings Settings, ItemScores Base, IReadOnlyList<CompareRun> Runs,
    IReadOnlyList<PreferenceDataSummary> Data, IReadOnlyDictionary<string, int> EvalCounts, long BaseParameters, double Seconds)
{
    public StageSeconds Stages { get; init; } = new(0, 0, 0, 0, 0);

    /// <summary>The base model's tokens seen in pretraining (non-padding), for the README's size/tokens/time line.</summary>
    public long PretrainingTokens { get; init; }
}

/// <summary>
/// How far the comparison has come, in work units (optimizer steps; sampling and each evaluation count as a fixed number).
/// </summary>
public sealed record CompareProgress(string Stage, double Done, double Total);

namespace IftSharp.Evaluation;

/// <summary>A model's scores: exact-match accuracy on reasoning and fact following, multiple-choice accuracy, held-out perplexity.</summary>
public sealed record TaskScores(double Reasoning, double FactFollowing, double MultipleChoice, double Perplexity)
{
    /// <summary>The mean of the three accuracies (perplexity is on another scale and stays out, as the paper's average leaves out MT-Bench).</summary>
    public double Average => (Reasoning + FactFollowing + MultipleChoice) / 3;
}

/// <summary>One trained model of the comparison.</summary>
public sealed record CompareRun(string Method, int Seed, TaskScores Scores, double TrainSeconds, string ModelDirectory);

/// <summary>Where a seed's preference pairs came from: rejected answers the base model produced, or corrupted solutions.</summary>
public sealed record PreferenceDataSummary(int Seed, int Pairs, int SampledRejected, int CorruptedRejected, string Directory);

public sealed record CompareResult(CompareSettings Settings, TaskScores Base, IReadOnlyList<CompareRun> Runs,
    IReadOnlyList<PreferenceDataSummary> Data, IReadOnlyDictionary<string, int> EvalCounts, long BaseParameters, double Seconds);

/// <summary>How far the comparison has come, in work units (optimizer steps; sampling and each evaluation count as a fixed number).</summary>
public sealed record CompareProgress(string Stage, double Done, double Total);

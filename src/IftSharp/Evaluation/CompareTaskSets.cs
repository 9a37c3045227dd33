using IftSharp.Tokenization;

namespace IftSharp.Evaluation;

/// <summary>
/// The comparison's task sets, scored by <c>iftsharp eval</c>'s own code (<see cref="ModelEval.Score(ModelEvaluator,
/// EvalTaskSet, int, int, EvalCallbacks)"/> on <see cref="SuiteTaskSets"/>), so a model folder of the comparison scores
/// the same under <c>eval</c>. Every item's outcome is kept, in item order, for the paired bootstrap.
/// </summary>
public sealed class CompareTaskSets
{
    public EvalTaskSet Reasoning { get; }
    public EvalTaskSet Facts { get; }
    public EvalTaskSet MultipleChoice { get; }

    /// <summary>Held-out texts for perplexity (evaluation only; validation chooses by the accuracies).</summary>
    public EvalTaskSet? HeldOut { get; }

    public CompareTaskSets(TaskSplit split, int reasoning, int facts, int choice, int? heldOut, int seed, ITokenizer tokenizer,
        IChatTemplate template, int maxLength)
    {
        EvalTaskSet Build(SuiteTask task, int count) => SuiteTaskSets.Build(task, split, count, seed, tokenizer, template, maxLength);
        Reasoning = Build(SuiteTask.Reasoning, reasoning);
        Facts = Build(SuiteTask.Facts, facts);
        MultipleChoice = Build(SuiteTask.Choice, choice);
        HeldOut = heldOut is int n ? Build(SuiteTask.Perplexity, n) : null;
    }

    /// <summary>The three accuracy tasks' results (and perplexity's, when there are held-out texts), in that order.</summary>
    public IReadOnlyList<EvalTaskResult> Score(ModelEvaluator evaluator, int maxNewTokens) => ModelEval.Score(evaluator,
        HeldOut is null ? [Reasoning, Facts, MultipleChoice] : [Reasoning, Facts, MultipleChoice, HeldOut], maxNewTokens, batchSize: 64);

    /// <summary>Whether each item of a task was answered right.</summary>
    public static IReadOnlyList<bool> Outcomes(EvalTaskResult result) => result.Samples.Select(s => s.Correct).ToList();
}

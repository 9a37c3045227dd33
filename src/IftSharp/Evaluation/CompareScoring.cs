namespace IftSharp.Evaluation;

/// <summary>
/// Every item's outcome, through <see cref="ModelEvaluator"/>'s own scoring (the code <c>eval</c> uses), so the
/// comparison's accuracies are the evaluator's and the paired bootstrap can resample items: exact match of the greedy
/// answer (<see cref="TaskAnswers.IsCorrect"/>, as <see cref="ModelEvaluator.ExactMatch"/>), and multiple choice as
/// <see cref="ModelEvaluator.MultipleChoice"/> scores a one-item list (1 or 0).
/// </summary>
public sealed class CompareScoring(ModelEvaluator evaluator, int maxNewTokens)
{
    /// <summary>Whether each greedy answer is right, and the generations (for the sample file).</summary>
    public (IReadOnlyList<bool> Outcomes, IReadOnlyList<string> Outputs) ExactMatch(IReadOnlyList<TaskExample> items)
    {
        var outputs = evaluator.Generate(items, maxNewTokens);
        return (items.Select((item, i) => TaskAnswers.IsCorrect(outputs[i], item)).ToList(), outputs);
    }

    /// <summary>Whether each item's correct option has the highest log-likelihood.</summary>
    public IReadOnlyList<bool> MultipleChoice(IReadOnlyList<TaskExample> items) =>
        items.Select(item => evaluator.MultipleChoice([item]) == 1.0).ToList();
}

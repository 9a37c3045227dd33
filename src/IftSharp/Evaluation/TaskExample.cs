namespace IftSharp.Evaluation;

/// <summary>The three task families of the comparison suite (analogues of GSM8K, TruthfulQA and ARC/MMLU).</summary>
public enum TaskKind { Reasoning, FactFollowing, MultipleChoice }

/// <summary>
/// One task item: the user prompt, the target assistant message (<see cref="Solution"/>, ending with an
/// <c>Answer: …</c> line), the final answer it is scored on, and for multiple choice the options (the correct one
/// included). <see cref="Key"/> identifies the item; its split follows from it alone.
/// </summary>
public sealed record TaskExample(TaskKind Task, string Key, string Prompt, string Solution, string Answer, IReadOnlyList<string> Options)
{
    public TaskSplit Split => TaskSplits.Of(this);
}

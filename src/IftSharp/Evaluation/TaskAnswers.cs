using System.Text.RegularExpressions;

namespace IftSharp.Evaluation;

/// <summary>
/// Reads the final answer from a generated solution: the text after the first <c>Answer:</c>, up to the line's end.
/// The first, as GSM8K's strict match takes the first <c>####</c>: a model that keeps generating after answering is judged
/// by the answer it gave.
/// </summary>
public static partial class TaskAnswers
{
    [GeneratedRegex(@"Answer:[ \t]*([^\r\n]*)")]
    private static partial Regex AnswerLine();

    /// <summary>The final answer, trimmed, or null when the text has no <c>Answer:</c> line.</summary>
    public static string? Final(string text)
    {
        var match = AnswerLine().Match(text);
        if (!match.Success) return null;
        var answer = match.Groups[1].Value.Trim().TrimEnd('.');
        return answer.Length == 0 ? null : answer;
    }

    /// <summary>Exact match of the final answer, as GSM8K and the fact-following task are scored.</summary>
    public static bool IsCorrect(string generated, TaskExample example) => Final(generated) == example.Answer;
}

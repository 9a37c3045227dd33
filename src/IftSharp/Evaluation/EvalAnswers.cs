namespace IftSharp.Evaluation;

/// <summary>
/// How <c>eval</c> reads a generation's final answer and compares it with the reference: the text after the first
/// <c>Answer:</c> (<see cref="TaskAnswers.Final"/>, GSM8K's strict match); for a user's rows, which may not ask for that
/// line, the generation's first non-empty line when it has none. Both sides are compared trimmed of white space and of
/// a final full stop.
/// </summary>
public static class EvalAnswers
{
    /// <summary>The final answer of <paramref name="generated"/>, or null when it has none.</summary>
    public static string? Extract(string generated, bool requireAnswerLine)
    {
        if (TaskAnswers.Final(generated) is string answer) return answer;
        if (requireAnswerLine) return null;
        var line = generated.Split('\n').Select(Normalise).FirstOrDefault(l => l.Length > 0);
        return line;
    }

    /// <summary>Whether the extracted answer equals the reference.</summary>
    public static bool Matches(string? extracted, string reference) =>
        extracted is not null && Normalise(extracted) == Normalise(reference);

    /// <summary>Trimmed of white space and of full stops at the end.</summary>
    public static string Normalise(string text) => text.Trim().TrimEnd('.').TrimEnd();
}

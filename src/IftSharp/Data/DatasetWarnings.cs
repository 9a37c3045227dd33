using System.Globalization;

namespace IftSharp.Data;

/// <summary>
/// Problems a dataset's rows have that do not stop training, counted per kind and reported once per file: one line
/// with the count and the first line numbers, rather than a line per row (a dataset can have thousands).
/// </summary>
public sealed class DatasetWarnings(string source, Action<string>? warn)
{
    /// <summary>TRL warns about it too ("Mismatch between tokenized prompt and the start of tokenized prompt+completion").</summary>
    public const string PromptNotPrefix =
        "whose prompt, tokenised alone, is not a prefix of the tokenised prompt + completion (the template or the tokenizer " +
        "renders the prompt differently inside the whole row); as in TRL, the loss starts after as many tokens as the prompt has alone";

    public const string IdenticalPair =
        "whose chosen and rejected sides are identical after tokenisation and truncation: they train with zero gradient";

    private const int LinesShown = 10;

    private readonly Dictionary<string, List<int>> _rows = [];

    /// <summary>Counts a row (once, however many of its sides have the problem).</summary>
    public void Add(string problem, int line)
    {
        if (!_rows.TryGetValue(problem, out var lines)) _rows[problem] = lines = [];
        if (lines.Count == 0 || lines[^1] != line) lines.Add(line);
    }

    /// <summary>How many rows had the problem.</summary>
    public int Count(string problem) => _rows.TryGetValue(problem, out var lines) ? lines.Count : 0;

    /// <summary>Sends one line per problem to the callback and forgets them.</summary>
    public void Flush()
    {
        foreach (var (problem, lines) in _rows)
        {
            var shown = string.Join(", ", lines.Take(LinesShown).Select(l => l.ToString(CultureInfo.InvariantCulture)));
            var more = lines.Count > LinesShown ? $" and {lines.Count - LinesShown} more" : "";
            warn?.Invoke($"{source}: {lines.Count} row{(lines.Count == 1 ? "" : "s")} (line{(lines.Count == 1 ? "" : "s")} " +
                $"{shown}{more}) {problem}");
        }
        _rows.Clear();
    }
}

using System.Text;

namespace IftSharp.Tokenization;

/// <summary>What a split does with the delimiters it finds (<c>tokenizers</c>' SplitDelimiterBehavior).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>
/// Cuts a <see cref="NormalizedText"/> at the matches of a pattern as <c>tokenizers</c> does: the pattern yields
/// alternating runs (match or not) covering the text, the behaviour decides which runs are kept, merged or dropped,
/// and empty pieces disappear. On "the-final--countdown" split at '-': Removed gives the, final, countdown;
/// Isolated the, -, final, -, -, countdown; MergedWithPrevious the-, final-, -, countdown; MergedWithNext the,
/// -final, -, -countdown; Contiguous the, -, final, --, countdown.
/// </summary>
internal static class TextSplitter
{
    /// <summary>The runs of <paramref name="text"/>: each match of <paramref name="regex"/> and each gap between them.</summary>
    public static List<(int Start, int End, bool IsMatch)> Runs(string text, CodePointRegex regex) => Runs(text, regex.Matches(text));

    /// <summary>The runs where every code point that <paramref name="isDelimiter"/> accepts is a match of its own.</summary>
    public static List<(int Start, int End, bool IsMatch)> Runs(string text, Func<Rune, bool> isDelimiter)
    {
        var matches = new List<(int, int)>();
        for (int k = 0; k < text.Length;)
        {
            Rune.DecodeFromUtf16(text.AsSpan(k), out var rune, out int width);
            if (isDelimiter(rune)) matches.Add((k, k + width));
            k += width;
        }
        return Runs(text, matches);
    }

    private static List<(int, int, bool)> Runs(string text, List<(int Start, int End)> matches)
    {
        var runs = new List<(int, int, bool)>(matches.Count * 2 + 1);
        int at = 0;
        foreach (var (start, end) in matches)
        {
            if (start > at) runs.Add((at, start, false));
            runs.Add((start, end, true));
            at = end;
        }
        if (at < text.Length) runs.Add((at, text.Length, false));
        return runs;
    }

    public static List<(int Start, int End, bool IsMatch)> Inverted(List<(int Start, int End, bool IsMatch)> runs) =>
        runs.Select(r => (r.Start, r.End, !r.IsMatch)).ToList();

    /// <summary>The pieces the behaviour keeps, in order, without empty ones.</summary>
    public static IEnumerable<NormalizedText> Split(NormalizedText text, List<(int Start, int End, bool IsMatch)> runs,
        SplitBehavior behavior)
    {
        var kept = new List<(int Start, int End)>(runs.Count);
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                kept.AddRange(runs.Select(r => (r.Start, r.End)));
                break;
            case SplitBehavior.Removed:
                kept.AddRange(runs.Where(r => !r.IsMatch).Select(r => (r.Start, r.End)));
                break;
            case SplitBehavior.Contiguous:
            {
                bool previous = false;
                foreach (var r in runs)
                {
                    if (r.IsMatch == previous && kept.Count > 0) kept[^1] = (kept[^1].Start, r.End);
                    else kept.Add((r.Start, r.End));
                    previous = r.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithPrevious:
            {
                bool previous = false;
                foreach (var r in runs)
                {
                    if (r.IsMatch && !previous && kept.Count > 0) kept[^1] = (kept[^1].Start, r.End);
                    else kept.Add((r.Start, r.End));
                    previous = r.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                bool previous = false;
                for (int i = runs.Count - 1; i >= 0; i--)
                {
                    var r = runs[i];
                    if (r.IsMatch && !previous && kept.Count > 0) kept[^1] = (r.Start, kept[^1].End);
                    else kept.Add((r.Start, r.End));
                    previous = r.IsMatch;
                }
                kept.Reverse();
                break;
            }
        }
        foreach (var (start, end) in kept)
            if (end > start) yield return text.Slice(start, end);
    }
}

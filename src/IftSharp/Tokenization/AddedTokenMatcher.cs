using System.Text;

namespace IftSharp.Tokenization;

/// <summary>One entry of <c>added_tokens</c> in <c>tokenizer.json</c>.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);

/// <summary>
/// Finds added tokens written in a text before it is pre-tokenised, as <c>tokenizers</c>' added vocabulary does:
/// leftmost match first, the longest token at that position, matches never overlap; a <c>single_word</c> token
/// only counts between non-word characters (a rejected match is skipped, not retried shorter); <c>lstrip</c> /
/// <c>rstrip</c> widen the token's span over the whitespace beside it, so that whitespace yields no ids.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedToken[]> byFirstChar; // each list longest first

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens) =>
        byFirstChar = tokens.Where(t => t.Content.Length > 0).GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());

    public bool IsEmpty => byFirstChar.Count == 0;

    /// <summary>Matches in text[start..end) as (start, end, id), in order.</summary>
    public List<(int Start, int End, int Id)> Find(string text, int start, int end)
    {
        var found = new List<(int, int, int)>();
        if (IsEmpty) return found;
        int previousEnd = start;
        for (int i = start; i < end;)
        {
            var token = LongestAt(text, i, end);
            if (token is null) { i++; continue; }
            int from = i, to = i + token.Content.Length;
            i = to;
            if (token.SingleWord
                && (from > start && IsWordChar(text, from - 1, before: true) || to < end && IsWordChar(text, to, before: false)))
                continue;
            if (token.LStrip) while (from > previousEnd && char.IsWhiteSpace(text[from - 1])) from--;
            if (token.RStrip) while (to < end && char.IsWhiteSpace(text[to])) to++;
            found.Add((from, to, token.Id));
            previousEnd = i = to;
        }
        return found;
    }

    private AddedToken? LongestAt(string text, int i, int end)
    {
        if (!byFirstChar.TryGetValue(text[i], out var candidates)) return null;
        foreach (var t in candidates)
            if (t.Content.Length <= end - i && string.CompareOrdinal(text, i, t.Content, 0, t.Content.Length) == 0) return t;
        return null;
    }

    /// <summary>
    /// Whether the character ending before (or starting at) <paramref name="at"/> is a word character (the regex crate's <c>\w</c>,
    /// tokenizers' test).
    /// </summary>
    private static bool IsWordChar(string text, int at, bool before)
    {
        if (before && at > 0 && char.IsLowSurrogate(text[at]) && char.IsHighSurrogate(text[at - 1])) at--;
        Rune.DecodeFromUtf16(text.AsSpan(at), out var rune, out _); // a lone surrogate reads as U+FFFD, not a word character
        return RustCharClasses.IsWord(rune);
    }
}

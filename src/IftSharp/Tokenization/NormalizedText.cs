using System.Globalization;
using System.Text;

namespace IftSharp.Tokenization;

/// <summary>
/// A piece of the caller's text as the tokenizer pipeline rewrites it (normalisers, pre-tokenizers), with, for each
/// UTF-16 unit, the span [Start, End) of the caller's text it stands for. This plays the part of <c>tokenizers</c>'
/// NormalizedString, but its spans are IftSharp's: a character that replaces others stands for all of them, and an
/// inserted character (Prepend's or Metaspace's "▁") stands for nothing, an empty span where it was inserted, so every
/// id's span stays inside the text it really came from.
/// </summary>
internal sealed class NormalizedText
{
    public string Text { get; private set; }

    /// <summary>Per UTF-16 unit of <see cref="Text"/>; both units of a surrogate pair carry the pair's span.</summary>
    public (int Start, int End)[] Origin { get; private set; }

    private NormalizedText(string text, (int, int)[] origin) { Text = text; Origin = origin; }

    /// <summary>text[start..end) of the caller's text, unchanged so far.</summary>
    public static NormalizedText Of(string text, int start, int end)
    {
        var origin = new (int, int)[end - start];
        for (int k = start; k < end; k++)
        {
            bool pair = char.IsHighSurrogate(text[k]) && k + 1 < end && char.IsLowSurrogate(text[k + 1]);
            if (pair) { origin[k - start] = origin[k - start + 1] = (k, k + 2); k++; }
            else origin[k - start] = (k, k + 1);
        }
        return new NormalizedText(text.Substring(start, end - start), origin);
    }

    public int Length => Text.Length;

    /// <summary>Where the piece starts in the caller's text (Metaspace's "first" scheme asks whether that is 0).</summary>
    public int OriginalStart => Origin.Length == 0 ? 0 : Origin[0].Start;

    public NormalizedText Slice(int start, int end) => new(Text[start..end], Origin[start..end]);

    /// <summary>
    /// The span of the caller's text that units [start, end) stand for; inserted units count only when nothing else does.
    /// </summary>
    public (int Start, int End) SpanOf(int start, int end)
    {
        int s = int.MaxValue, e = int.MinValue;
        for (int k = start; k < end; k++)
        {
            var (a, b) = Origin[k];
            if (b > a) { s = Math.Min(s, a); e = Math.Max(e, b); }
        }
        return s == int.MaxValue ? (Origin[start].Start, Origin[start].Start) : (s, e);
    }

    /// <summary>Inserts <paramref name="prefix"/> before a non-empty text; its units stand for nothing.</summary>
    public void Prepend(string prefix)
    {
        if (Text.Length == 0 || prefix.Length == 0) return;
        int at = Origin[0].Start;
        var origin = new (int, int)[prefix.Length + Origin.Length];
        for (int k = 0; k < prefix.Length; k++) origin[k] = (at, at);
        Origin.CopyTo(origin, prefix.Length);
        Text = prefix + Text;
        Origin = origin;
    }

    /// <summary>Replaces each match (start, end) by <paramref name="content"/>, whose units stand for the whole match.</summary>
    public void Replace(IEnumerable<(int Start, int End)> matches, string content)
    {
        var text = new StringBuilder(Text.Length);
        var origin = new List<(int, int)>(Origin.Length);
        int at = 0;
        bool any = false;
        foreach (var (start, end) in matches)
        {
            if (end <= start) continue;
            any = true;
            text.Append(Text, at, start - at);
            for (int k = at; k < start; k++) origin.Add(Origin[k]);
            var span = SpanOf(start, end);
            text.Append(content);
            for (int k = 0; k < content.Length; k++) origin.Add(span);
            at = end;
        }
        if (!any) return;
        text.Append(Text, at, Text.Length - at);
        for (int k = at; k < Text.Length; k++) origin.Add(Origin[k]);
        Text = text.ToString();
        Origin = origin.ToArray();
    }

    /// <summary>Rewrites every code point; the units it becomes stand for its span.</summary>
    public void MapCodePoints(Func<Rune, string> map)
    {
        var text = new StringBuilder(Text.Length);
        var origin = new List<(int, int)>(Origin.Length);
        for (int k = 0; k < Text.Length;)
        {
            Rune.DecodeFromUtf16(Text.AsSpan(k), out var rune, out int width);
            var mapped = map(rune);
            text.Append(mapped);
            for (int m = 0; m < mapped.Length; m++) origin.Add(Origin[k]);
            k += width;
        }
        Text = text.ToString();
        Origin = origin.ToArray();
    }

    /// <summary>
    /// Unicode normalisation. The text is normalised whole (so the result is exactly the whole string's normal form);
    /// spans come from normalising each text element on its own, which composes and reorders only within an element:
    /// an element that changed stands, in every unit it became, for its whole span. Should the elements' forms not add
    /// up to the whole (not seen in practice), every unit stands for the whole text.
    /// </summary>
    public void Normalize(NormalizationForm form)
    {
        if (Text.IsNormalized(form)) return;
        var whole = Text.Normalize(form);
        var text = new StringBuilder(whole.Length);
        var origin = new List<(int, int)>(whole.Length);
        var elements = StringInfo.GetTextElementEnumerator(Text);
        while (elements.MoveNext())
        {
            var element = (string)elements.Current;
            int from = elements.ElementIndex;
            var normalized = element.Normalize(form);
            text.Append(normalized);
            if (normalized == element) for (int k = 0; k < element.Length; k++) origin.Add(Origin[from + k]);
            else
            {
                var span = SpanOf(from, from + element.Length);
                for (int k = 0; k < normalized.Length; k++) origin.Add(span);
            }
        }
        if (text.ToString() != whole)
        {
            var span = SpanOf(0, Text.Length);
            origin = Enumerable.Repeat(span, whole.Length).ToList();
        }
        Text = whole;
        Origin = origin.ToArray();
    }

    /// <summary>Removes leading and/or trailing Unicode whitespace.</summary>
    public void Strip(bool left, bool right)
    {
        int start = 0, end = Text.Length;
        if (left) while (start < end && char.IsWhiteSpace(Text[start])) start++;
        if (right) while (end > start && char.IsWhiteSpace(Text[end - 1])) end--;
        if (start == 0 && end == Text.Length) return;
        Text = Text[start..end];
        Origin = Origin[start..end];
    }
}

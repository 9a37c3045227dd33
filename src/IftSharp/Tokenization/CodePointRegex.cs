using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace IftSharp.Tokenization;

/// <summary>
/// A pre-tokenizer regex that sees code points, as the Rust regex engines of Hugging Face <c>tokenizers</c> do.
/// .NET's <see cref="Regex"/> sees UTF-16 code units, so an astral letter (𝔘, 𠮷) or digit (𝟏) is two surrogates
/// that are neither <c>\p{L}</c> nor <c>\p{N}</c>, and an emoji before a word would not stick to it; either changes
/// where pieces break and so the ids. Text with surrogate pairs is therefore matched on a stand-in string where each
/// astral code point is one BMP character of the same Unicode category (the patterns test categories, and their
/// literals are ASCII or BMP ranges the stand-ins avoid), and the matches are mapped back.
/// </summary>
internal sealed class CodePointRegex(Regex regex)
{
    public Regex Regex { get; } = regex;

    /// <summary>The non-empty matches in <paramref name="text"/>, in order, as (start, end) in UTF-16 units.</summary>
    public List<(int Start, int End)> Matches(string text)
    {
        int[]? units = null; // code point index -> UTF-16 index in text, plus the end
        var subject = text;
        if (HasSurrogates(text)) (subject, units) = StandIn(text);
        var found = new List<(int, int)>();
        foreach (Match m in Regex.Matches(subject))
        {
            if (m.Length == 0) continue;
            found.Add(units is null ? (m.Index, m.Index + m.Length) : (units[m.Index], units[m.Index + m.Length]));
        }
        return found;
    }

    private static bool HasSurrogates(string s)
    {
        foreach (var c in s) if (char.IsSurrogate(c)) return true;
        return false;
    }

    private static (string Subject, int[] Units) StandIn(string s)
    {
        var subject = new StringBuilder(s.Length);
        var units = new List<int>(s.Length + 1);
        for (int i = 0; i < s.Length;)
        {
            units.Add(i);
            if (char.IsSurrogatePair(s, i))
            {
                subject.Append(Representative(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(s[i], s[i + 1]))));
                i += 2;
            }
            else subject.Append(s[i++]); // a lone surrogate stays itself: it has no code point to stand for
        }
        units.Add(s.Length);
        return (subject.ToString(), units.ToArray());
    }

    /// <summary>A non-ASCII BMP character of <paramref name="category"/>, so no ASCII literal of a pattern can match it.</summary>
    private static char Representative(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u00C0',
        UnicodeCategory.LowercaseLetter => '\u00E0',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\uA500', // Vai: outside the CJK and kana ranges patterns spell out
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00A1',
        UnicodeCategory.MathSymbol => '\u00B1',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u00A8',
        UnicodeCategory.OtherSymbol => '\u00A6',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.OtherNotAssigned => '\u0378',
        _ => '\uE000', // private use: astral code points of other categories (private use planes) land here
    };
}

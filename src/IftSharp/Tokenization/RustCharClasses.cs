using System.Globalization;
using System.Text;

namespace IftSharp.Tokenization;

/// <summary>
/// The character classes <c>tokenizers</c> tests with Rust's definitions (its pre-tokenizers and added-token word boundaries).
/// </summary>
internal static class RustCharClasses
{
    /// <summary>The regex crate's Unicode <c>\w</c>: Alphabetic, marks, decimal digits, connector punctuation, joiners.</summary>
    public static bool IsWord(Rune r) => r.Value is 0x200C or 0x200D || Rune.GetUnicodeCategory(r) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
            or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation => true,
        // Other_Alphabetic symbols: the circled letters.
        UnicodeCategory.OtherSymbol => r.Value is >= 0x24B6 and <= 0x24E9 or >= 0x1F130 and <= 0x1F149 or >= 0x1F150 and <= 0x1F169
            or >= 0x1F170 and <= 0x1F189,
        _ => false,
    };

    /// <summary>Rust's <c>char::is_numeric</c>: Nd, Nl and No.</summary>
    public static bool IsNumeric(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.DecimalDigitNumber
        or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;

    /// <summary>ASCII punctuation (which includes symbols such as $ + &lt; = &gt; ^ ` | ~) or any Unicode P* category.</summary>
    public static bool IsPunctuation(Rune r) =>
        r.IsAscii && char.IsAsciiLetterOrDigit((char)r.Value) is false && r.Value is > 0x20 and < 0x7F
        || Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    /// <summary>Unicode White_Space, Rust's <c>char::is_whitespace</c>.</summary>
    public static bool IsWhitespace(Rune r) => Rune.IsWhiteSpace(r);
}

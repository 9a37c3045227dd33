using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using IftSharp.Core;
using static IftSharp.Tokenization.TokenizerJsonFields;

namespace IftSharp.Tokenization;

/// <summary>
/// The <c>pre_tokenizer</c> of a <c>tokenizer.json</c>: cuts each normalised stretch of text into the pieces the
/// model encodes one at a time (and may rewrite them, as Metaspace and ByteLevel do). Sequence, Split, Metaspace,
/// ByteLevel, Digits, Punctuation, Whitespace, WhitespaceSplit, as <c>tokenizers</c> runs them.
/// </summary>
internal abstract class PreTokenizer
{
    /// <summary>The pieces each of <paramref name="pieces"/> becomes, in order.</summary>
    public abstract List<NormalizedText> Split(List<NormalizedText> pieces);

    protected static List<NormalizedText> Each(List<NormalizedText> pieces, Func<NormalizedText, IEnumerable<NormalizedText>> split)
    {
        var result = new List<NormalizedText>(pieces.Count * 2);
        foreach (var piece in pieces) result.AddRange(split(piece));
        return result;
    }

    public static PreTokenizer? Parse(JsonElement e, string path, string field = "pre_tokenizer")
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = TypeOf(e);
        return type switch
        {
            "Sequence" => new SequencePreTokenizer(Required(e, "pretokenizers", path, field).EnumerateArray()
                .Select((p, i) => Parse(p, path, $"{field}.pretokenizers[{i}]")).OfType<PreTokenizer>().ToArray()),
            "Split" => new SplitPreTokenizer(Pattern(e, path, field), Behavior(e, path, field, null), Bool(e, "invert", path, field,
                false)),
            "Metaspace" => MetaspacePreTokenizer.FromJson(e, path, field),
            "ByteLevel" => new ByteLevelPreTokenizer(Bool(e, "add_prefix_space", path, field, true), Bool(e, "use_regex", path, field,
                true)),
            "Digits" => new DigitsPreTokenizer(Bool(e, "individual_digits", path, field, false)),
            "Punctuation" => new CharClassPreTokenizer(RustCharClasses.IsPunctuation, Behavior(e, path, field, SplitBehavior.Isolated)),
            "Whitespace" => new WhitespacePreTokenizer(),
            "WhitespaceSplit" => new CharClassPreTokenizer(RustCharClasses.IsWhitespace, SplitBehavior.Removed),
            _ => throw Unsupported(path, $"{field}.type", type,
                "one of Sequence, Split, Metaspace, ByteLevel, Digits, Punctuation, Whitespace, WhitespaceSplit"),
        };
    }

    private static SplitBehavior Behavior(JsonElement e, string path, string field, SplitBehavior? fallback)
    {
        if (IsAbsent(e, "behavior") && fallback is SplitBehavior b) return b;
        var name = String(e, "behavior", path, field);
        return Enum.TryParse<SplitBehavior>(name, out var behavior) && Enum.IsDefined(behavior) && !char.IsDigit(name[0]) ? behavior
            : throw Unsupported(path, $"{field}.behavior", name, "Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
    }
}

internal sealed class SequencePreTokenizer(PreTokenizer[] steps) : PreTokenizer
{
    public override List<NormalizedText> Split(List<NormalizedText> pieces)
    {
        foreach (var step in steps) pieces = step.Split(pieces);
        return pieces;
    }
}

internal sealed class SplitPreTokenizer(CodePointRegex pattern, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override List<NormalizedText> Split(List<NormalizedText> pieces) => Each(pieces, piece =>
    {
        var runs = TextSplitter.Runs(piece.Text, pattern);
        return TextSplitter.Split(piece, invert ? TextSplitter.Inverted(runs) : runs, behavior);
    });
}

internal sealed class CharClassPreTokenizer(Func<Rune, bool> isDelimiter, SplitBehavior behavior) : PreTokenizer
{
    public override List<NormalizedText> Split(List<NormalizedText> pieces) =>
        Each(pieces, piece => TextSplitter.Split(piece, TextSplitter.Runs(piece.Text, isDelimiter), behavior));
}

/// <summary>Numbers apart from the rest: each digit alone, or runs of digits together.</summary>
internal sealed class DigitsPreTokenizer(bool individualDigits) : PreTokenizer
{
    public override List<NormalizedText> Split(List<NormalizedText> pieces) => Each(pieces, piece => TextSplitter.Split(piece,
        TextSplitter.Runs(piece.Text, RustCharClasses.IsNumeric), individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous));
}

/// <summary>Runs of word characters and runs of other visible characters; whitespace is dropped (the regex <c>\w+|[^\w\s]+</c>).</summary>
internal sealed class WhitespacePreTokenizer : PreTokenizer
{
    public override List<NormalizedText> Split(List<NormalizedText> pieces) => Each(pieces, piece =>
    {
        var runs = new List<(int Start, int End, bool IsMatch)>();
        int kind = -1; // 0 word, 1 other visible, 2 whitespace
        for (int k = 0; k < piece.Length;)
        {
            Rune.DecodeFromUtf16(piece.Text.AsSpan(k), out var rune, out int width);
            int next = RustCharClasses.IsWord(rune) ? 0 : RustCharClasses.IsWhitespace(rune) ? 2 : 1;
            // Whitespace characters each stand alone (any run of them is dropped the same).
            if (next == kind && next != 2) runs[^1] = (runs[^1].Start, k + width, runs[^1].IsMatch);
            else runs.Add((k, k + width, next == 2));
            kind = next;
            k += width;
        }
        return TextSplitter.Split(piece, runs, SplitBehavior.Removed);
    });
}

/// <summary>
/// SentencePiece's word boundary: spaces become the replacement character ("▁"), which is prepended to the piece
/// (always, only to the piece that starts the text, or never) and, with <c>split</c>, starts each new piece.
/// </summary>
internal sealed class MetaspacePreTokenizer(string replacement, MetaspacePreTokenizer.Scheme prepend, bool split) : PreTokenizer
{
    public enum Scheme { Always, First, Never }

    public string Replacement => replacement;
    public Scheme Prepend => prepend;

    public static MetaspacePreTokenizer FromJson(JsonElement e, string path, string field)
    {
        var replacement = String(e, "replacement", path, field);
        if (replacement.EnumerateRunes().Count() != 1) throw InputException.At(path, null, $"{field}.replacement",
            "expected one character");
        var scheme = ParseScheme(e, path, field);
        return new MetaspacePreTokenizer(replacement, scheme, Bool(e, "split", path, field, true));
    }

    /// <summary>tokenizers' reading: prepend_scheme (default always); an older add_prefix_space of false means never.</summary>
    public static Scheme ParseScheme(JsonElement e, string path, string field)
    {
        if (!Bool(e, "add_prefix_space", path, field, true)) return Scheme.Never;
        var name = String(e, "prepend_scheme", path, field, "always");
        return name switch
        {
            "always" => Scheme.Always,
            "first" => Scheme.First,
            "never" => Scheme.Never,
            _ => throw Unsupported(path, $"{field}.prepend_scheme", name, "always, first or never"),
        };
    }

    private readonly CodePointRegex boundary = new(new Regex(Regex.Escape(replacement), RegexOptions.CultureInvariant));
    private static readonly CodePointRegex Space = new(new Regex(" ", RegexOptions.CultureInvariant));

    public override List<NormalizedText> Split(List<NormalizedText> pieces) => Each(pieces, piece =>
    {
        piece.Replace(Space.Matches(piece.Text), replacement);
        bool startsWithReplacement = piece.Text.StartsWith(replacement, StringComparison.Ordinal);
        if (prepend == Scheme.Always && !startsWithReplacement || prepend == Scheme.First && !startsWithReplacement
            && piece.OriginalStart == 0)
            piece.Prepend(replacement);
        return split ? TextSplitter.Split(piece, TextSplitter.Runs(piece.Text, boundary), SplitBehavior.MergedWithNext) : [piece];
    });
}

/// <summary>
/// GPT-2's byte-level step: an optional leading space, GPT-2's word regex (with <c>use_regex</c>), then every byte as its byte-alphabet
/// character.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private static readonly CodePointRegex Gpt2 = new(new Regex(Gpt2Pattern, RegexOptions.CultureInvariant));

    public bool AddPrefixSpace => addPrefixSpace;

    public ByteLevelPreTokenizer WithPrefixSpace(bool value) => new(value, useRegex);

    public override List<NormalizedText> Split(List<NormalizedText> pieces)
    {
        var result = Each(pieces, piece =>
        {
            if (addPrefixSpace && !piece.Text.StartsWith(' ')) piece.Prepend(" ");
            return useRegex ? TextSplitter.Split(piece, TextSplitter.Runs(piece.Text, Gpt2), SplitBehavior.Isolated) : [piece];
        });
        foreach (var piece in result) ByteLevelNormalizer.ToByteAlphabet(piece);
        return result;
    }
}

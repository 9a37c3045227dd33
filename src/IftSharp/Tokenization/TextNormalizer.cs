using System.Text;
using System.Text.Json;
using static IftSharp.Tokenization.TokenizerJsonFields;

namespace IftSharp.Tokenization;

/// <summary>
/// The <c>normalizer</c> of a <c>tokenizer.json</c>, applied to each stretch of text between added tokens:
/// Sequence, NFC / NFD / NFKC / NFKD, Lowercase, Strip, Prepend, Replace (string or regex), ByteLevel.
/// </summary>
internal abstract class TextNormalizer
{
    public abstract void Normalize(NormalizedText text);

    /// <summary>The normaliser a JSON value describes; null for none. Other types are refused naming the field.</summary>
    public static TextNormalizer? Parse(JsonElement e, string path, string field = "normalizer")
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = TypeOf(e);
        return type switch
        {
            "Sequence" => new SequenceNormalizer(Required(e, "normalizers", path, field).EnumerateArray()
                .Select((n, i) => Parse(n, path, $"{field}.normalizers[{i}]")).OfType<TextNormalizer>().ToArray()),
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "Lowercase" => new LowercaseNormalizer(),
            "Strip" => new StripNormalizer(Bool(e, "strip_left", path, field, true), Bool(e, "strip_right", path, field, true)),
            "Prepend" => new PrependNormalizer(String(e, "prepend", path, field)),
            "Replace" => new ReplaceNormalizer(Pattern(e, path, field), String(e, "content", path, field)),
            "ByteLevel" => new ByteLevelNormalizer(),
            _ => throw Unsupported(path, $"{field}.type", type,
                "one of Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, ByteLevel"),
        };
    }
}

internal sealed class SequenceNormalizer(TextNormalizer[] steps) : TextNormalizer
{
    public override void Normalize(NormalizedText text)
    {
        foreach (var step in steps) step.Normalize(text);
    }
}

internal sealed class UnicodeNormalizer(NormalizationForm form) : TextNormalizer
{
    public override void Normalize(NormalizedText text) => text.Normalize(form);
}

/// <summary>
/// Rust's <c>char::to_lowercase</c>: the full mapping, where 'İ' becomes "i̇" (the one unconditional multi-character lowercasing).
/// </summary>
internal sealed class LowercaseNormalizer : TextNormalizer
{
    public override void Normalize(NormalizedText text) =>
        text.MapCodePoints(r => r.Value == 0x130 ? "i\u0307" : Rune.ToLowerInvariant(r).ToString());
}

internal sealed class StripNormalizer(bool left, bool right) : TextNormalizer
{
    public override void Normalize(NormalizedText text) => text.Strip(left, right);
}

internal sealed class PrependNormalizer(string prefix) : TextNormalizer
{
    public override void Normalize(NormalizedText text) => text.Prepend(prefix);
}

internal sealed class ReplaceNormalizer(CodePointRegex pattern, string content) : TextNormalizer
{
    public override void Normalize(NormalizedText text) => text.Replace(pattern.Matches(text.Text), content);
}

/// <summary>Every byte of the UTF-8 text as its character in GPT-2's byte alphabet.</summary>
internal sealed class ByteLevelNormalizer : TextNormalizer
{
    public override void Normalize(NormalizedText text) => ToByteAlphabet(text);

    public static void ToByteAlphabet(NormalizedText text)
    {
        var utf8 = new byte[4];
        var chars = new char[4];
        text.MapCodePoints(rune =>
        {
            int count = rune.EncodeToUtf8(utf8);
            for (int b = 0; b < count; b++) chars[b] = ByteLevelTokenizer.ByteToChar[utf8[b]];
            return new string(chars, 0, count);
        });
    }
}

using System.Text;
using System.Text.Json;
using IftSharp.Core;
using static IftSharp.Tokenization.TokenizerJsonFields;

namespace IftSharp.Tokenization;

/// <summary>
/// The <c>decoder</c> of a <c>tokenizer.json</c>: turns the tokens' strings back into text, each step rewriting the
/// list (Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel), the result joined at the end.
/// </summary>
internal abstract class TokenDecoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    public string Decode(List<string> tokens) => string.Concat(DecodeChain(tokens));

    public static TokenDecoder? Parse(JsonElement e, string path, string field = "decoder")
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = TypeOf(e);
        switch (type)
        {
            case "Sequence":
                return new SequenceDecoder(Required(e, "decoders", path, field).EnumerateArray()
                    .Select((d, i) => Parse(d, path, $"{field}.decoders[{i}]")).OfType<TokenDecoder>().ToArray());
            case "Replace": return new ReplaceDecoder(Pattern(e, path, field), String(e, "content", path, field));
            case "ByteFallback": return new ByteFallbackDecoder();
            case "Fuse": return new FuseDecoder();
            case "Strip":
                var content = String(e, "content", path, field);
                if (content.EnumerateRunes().Count() != 1) throw InputException.At(path, null, $"{field}.content",
                    "expected one character");
                return new StripDecoder(content, Int(e, "start", path, field, 0), Int(e, "stop", path, field, 0));
            case "Metaspace":
                var replacement = String(e, "replacement", path, field);
                return new MetaspaceDecoder(replacement, MetaspacePreTokenizer.ParseScheme(e, path, field));
            case "ByteLevel": return new ByteLevelDecoder();
            default:
                throw Unsupported(path, $"{field}.type", type, "one of Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel");
        }
    }
}

internal sealed class SequenceDecoder(TokenDecoder[] steps) : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var step in steps) tokens = step.DecodeChain(tokens);
        return tokens;
    }
}

internal sealed class ReplaceDecoder(CodePointRegex pattern, string content) : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens) => tokens.Select(token =>
    {
        var text = NormalizedText.Of(token, 0, token.Length);
        text.Replace(pattern.Matches(token), content);
        return text.Text;
    }).ToList();
}

/// <summary>
/// Runs of <c>&lt;0xNN&gt;</c> tokens become the text their bytes spell, or one U+FFFD per byte when they are not valid UTF-8.
/// </summary>
internal sealed class ByteFallbackDecoder : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        void Flush()
        {
            if (bytes.Count == 0) return;
            try { result.Add(strict.GetString(bytes.ToArray())); }
            catch (DecoderFallbackException) { for (int i = 0; i < bytes.Count; i++) result.Add("\uFFFD"); }
            bytes.Clear();
        }
        foreach (var token in tokens)
        {
            if (IsByteToken(token, out var b)) { bytes.Add(b); continue; }
            Flush();
            result.Add(token);
        }
        Flush();
        return result;
    }

    private static bool IsByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out value);
    }
}

internal sealed class FuseDecoder : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>
/// Removes up to <paramref name="start"/> leading and <paramref name="stop"/> trailing copies of one character from each token.
/// </summary>
internal sealed class StripDecoder(string content, int start, int stop) : TokenDecoder
{
    private readonly Rune character = content.EnumerateRunes().First();

    public override List<string> DecodeChain(List<string> tokens) => tokens.Select(token =>
    {
        var runes = token.EnumerateRunes().ToArray();
        int from = 0, to = runes.Length;
        while (from < Math.Min(start, runes.Length) && runes[from] == character) from++;
        for (int i = 0; i < stop && to > from && runes[to - 1] == character; i++) to--;
        return string.Concat(runes[from..to].Select(r => r.ToString()));
    }).ToList();
}

/// <summary>The replacement character back to spaces; in the first token it is dropped instead unless nothing was prepended.</summary>
internal sealed class MetaspaceDecoder(string replacement, MetaspacePreTokenizer.Scheme prepend) : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens) => tokens.Select((token, i) =>
        token.Replace(replacement, i == 0 && prepend != MetaspacePreTokenizer.Scheme.Never ? "" : " ", StringComparison.Ordinal)).ToList();
}

/// <summary>
/// GPT-2's byte alphabet back to bytes (a token with other characters, such as an added token, as its own UTF-8), then UTF-8 with
/// U+FFFD for broken sequences.
/// </summary>
internal sealed class ByteLevelDecoder : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var token in tokens)
            if (token.All(ByteLevelTokenizer.CharToByte.ContainsKey)) foreach (var c in token) bytes.Add(ByteLevelTokenizer.CharToByte[c]);
            else bytes.AddRange(Encoding.UTF8.GetBytes(token));
        return [Encoding.UTF8.GetString(bytes.ToArray())];
    }
}

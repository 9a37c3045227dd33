using System.Text.Json;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Tokenization;

/// <summary>
/// The pipeline steps the reference encoder (transformers.js) does not implement as Hugging Face <c>tokenizers</c> does
/// (Split behaviours beyond Isolated, Punctuation, Unicode digits, Metaspace's "first" scheme and split, the
/// continuing-subword prefix, unknown-token fusing, the Strip / ByteFallback / Metaspace decoders), checked against the
/// expected values of <c>tokenizers</c>' own Rust unit tests (src/pre_tokenizers/*.rs, src/models/bpe/model.rs,
/// src/decoders/*.rs), plus offsets that only IftSharp defines (each piece's span of the caller's text).
/// </summary>
public class TokenizerPipelineStepsTests
{
    private static PreTokenizer Step(string json) => PreTokenizer.Parse(JsonDocument.Parse(json).RootElement.Clone(), "tokenizer.json")!;

    private static TokenDecoder Decoder(string json) => TokenDecoder.Parse(JsonDocument.Parse(json).RootElement.Clone(), "tokenizer.json")!;

    /// <summary>
    /// The pieces of <paramref name="text"/> cut first at the given literal markers (as added tokens cut it), then by the step.
    /// </summary>
    private static List<NormalizedText> Pieces(string json, string text, params string[] cutAt)
    {
        var segments = new List<NormalizedText>();
        int at = 0;
        foreach (var marker in cutAt)
        {
            int found = text.IndexOf(marker, at, StringComparison.Ordinal);
            if (found > at) segments.Add(NormalizedText.Of(text, at, found));
            at = found + marker.Length;
        }
        if (at < text.Length) segments.Add(NormalizedText.Of(text, at, text.Length));
        return Step(json).Split(segments);
    }

    private static string[] Texts(List<NormalizedText> pieces) => pieces.Select(p => p.Text).ToArray();

    [Theory]
    [InlineData("Removed", new[] { "How", "are", "you", "doing", "?" })]
    [InlineData("Isolated", new[] { "How", " ", "are", " ", "you", " ", "doing", "?" })]
    [InlineData("MergedWithPrevious", new[] { "How ", "are ", "you ", "doing", "?" })]
    [InlineData("MergedWithNext", new[] { "How", " are", " you", " doing", "?" })]
    [InlineData("Contiguous", new[] { "How", " ", "are", " ", "you", " ", "doing?" })]
    public void SplitBehavioursWithAnInvertedWordPattern(string behavior, string[] expected)
    {
        var json = $$$"""{"type": "Split", "pattern": {"Regex": "\\w+|[^\\w\\s]+"}, "behavior": "{{{behavior}}}", "invert": true}""";
        Assert.Equal(expected, Texts(Pieces(json, "How are you doing?")));
    }

    [Theory]
    [InlineData("Removed", new[] { "the", "final", "countdown" })]
    [InlineData("Isolated", new[] { "the", "-", "final", "-", "-", "countdown" })]
    [InlineData("MergedWithPrevious", new[] { "the-", "final-", "-", "countdown" })]
    [InlineData("MergedWithNext", new[] { "the", "-final", "-", "-countdown" })]
    [InlineData("Contiguous", new[] { "the", "-", "final", "--", "countdown" })]
    public void SplitBehavioursOnAStringDelimiter(string behavior, string[] expected) =>
        Assert.Equal(expected,
            Texts(Pieces($$$"""{"type": "Split", "pattern": {"String": "-"}, "behavior": "{{{behavior}}}", "invert": false}""",
            "the-final--countdown")));

    [Fact]
    public void PunctuationIsolatesEachMark() =>
        Assert.Equal(["Hey friend", "!", "     How are you", "?", "!", "?"], Texts(Pieces("""{"type": "Punctuation"}""",
            "Hey friend!     How are you?!?")));

    [Fact]
    public void DigitsAreContiguousOrIndividualAndIncludeEveryNumericCharacter()
    {
        Assert.Equal(["Hey ", "123", " friend!"], Texts(Pieces("""{"type": "Digits", "individual_digits": false}""", "Hey 123 friend!")));
        Assert.Equal(["Hey ", "1", "2", "3", " friend!"], Texts(Pieces("""{"type": "Digits", "individual_digits": true}""",
            "Hey 123 friend!")));
        // Rust's char::is_numeric: Arabic-Indic digits, ½ and Ⅻ are numeric too.
        Assert.Equal(["x", "١٢½Ⅻ", "y"], Texts(Pieces("""{"type": "Digits", "individual_digits": false}""", "x١٢½Ⅻy")));
    }

    [Fact]
    public void WhitespaceAndWhitespaceSplit()
    {
        Assert.Equal(["Hey", "man", "!"], Texts(Pieces("""{"type": "Whitespace"}""", "Hey man!")));
        Assert.Equal(["How", "are", "you", "doing", "?"], Texts(Pieces("""{"type": "Whitespace"}""", "How are you doing?")));
        Assert.Empty(Pieces("""{"type": "Whitespace"}""", "\n"));
        Assert.Equal(["Hey", "man!"], Texts(Pieces("""{"type": "WhitespaceSplit"}""", "Hey man!")));
        Assert.Equal(["Hey,", "man,", "Good?"], Texts(Pieces("""{"type": "WhitespaceSplit"}""", "Hey, man, Good?")));
    }

    [Fact]
    public void MetaspaceReplacesSpacesPrependsAndSplits()
    {
        const string always = """{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}""";
        Assert.Equal(["▁Hey", "▁friend!"], Texts(Pieces(always, "Hey friend!")));
        Assert.Equal(["▁Hey", "▁", "▁", "▁friend!"], Texts(Pieces(always, "Hey   friend!")));
        // "first": only a piece that starts the text gets the prefix (pieces after an added token do not).
        const string first = """{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}""";
        Assert.Equal(["▁Hey▁my▁friend▁", "how▁are▁you"], Texts(Pieces(first, "Hey my friend <s>how▁are you", "<s>")));
        Assert.Equal(["▁Hey▁", "how"], Texts(Pieces(first, " Hey <s>how", "<s>")));
        Assert.Equal(["▁Hey▁", "how▁", "are▁", "▁you"], Texts(Pieces(first, " Hey <s>how <s>are <s> you", "<s>", "<s>", "<s>")));
        Assert.Equal(["Hey▁you"], Texts(Pieces(
            """{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": false}""", "Hey you")));
        // An older file's add_prefix_space: false means never (and split defaults to true).
        Assert.Equal(["Hey", "▁you"],
            Texts(Pieces("""{"type": "Metaspace", "replacement": "▁", "add_prefix_space": false}""", "Hey you")));
    }

    [Fact]
    public void MetaspaceSpansPointIntoTheCallersText()
    {
        const string text = "ab cd";
        var pieces = Pieces("""{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}""", text);
        Assert.Equal(["▁ab", "▁cd"], Texts(pieces));
        Assert.Equal((0, 0), pieces[0].SpanOf(0, 1)); // the prepended "▁" stands for nothing
        Assert.Equal((0, 2), pieces[0].SpanOf(0, 3));
        Assert.Equal((2, 3), pieces[1].SpanOf(0, 1)); // the space it replaced
        Assert.Equal((2, 5), pieces[1].SpanOf(0, 3));
    }

    [Fact]
    public void DecodersFollowTokenizersRustTests()
    {
        Assert.Equal(["ey", " friend!", "HH"], Decoder("""{"type": "Strip", "content": "H", "start": 1, "stop": 0}""").DecodeChain(["Hey",
            " friend!", "HHH"]));
        Assert.Equal(["He", " friend!"], Decoder("""{"type": "Strip", "content": "y", "start": 0, "stop": 1}""").DecodeChain(["Hey",
            " friend!"]));
        var bytes = Decoder("""{"type": "ByteFallback"}""");
        Assert.Equal(["Hey", "friend!"], bytes.DecodeChain(["Hey", "friend!"]));
        Assert.Equal(["a"], bytes.DecodeChain(["<0x61>"]));
        Assert.Equal(["\uFFFD"], bytes.DecodeChain(["<0xE5>"]));
        Assert.Equal(["\uFFFD", "\uFFFD"], bytes.DecodeChain(["<0xE5>", "<0x8f>"]));
        Assert.Equal(["叫"], bytes.DecodeChain(["<0xE5>", "<0x8f>", "<0xab>"]));
        Assert.Equal(["叫", "a"], bytes.DecodeChain(["<0xE5>", "<0x8f>", "<0xab>", "a"]));
        Assert.Equal(["\uFFFD", "\uFFFD", "a"], bytes.DecodeChain(["<0xE5>", "<0x8f>", "a"]));
        Assert.Equal(["Hey", " friend!"],
            Decoder("""{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}""").DecodeChain(["▁Hey", "▁friend!"]));
        Assert.Equal([" Hey", " friend!"],
            Decoder("""{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never"}""").DecodeChain(["▁Hey", "▁friend!"]));
    }

    private static BpeModel Model(Dictionary<string, int> vocab, (string, string)[] merges, bool fuseUnk = false, bool byteFallback = false,
        string? prefix = null, string? suffix = null)
    {
        var table = new Dictionary<long, (int, int)>();
        for (int rank = 0; rank < merges.Length; rank++)
        {
            var (l, r) = merges[rank];
            table[BpeModel.Key(vocab[l], vocab[r])] = (rank, vocab[l + r[(prefix?.Length ?? 0)..]]);
        }
        return new BpeModel(vocab, table, vocab.TryGetValue("<unk>", out var unk) ? unk : null, fuseUnk, byteFallback, ignoreMerges: false,
            prefix, suffix);
    }

    [Fact]
    public void UnknownCharactersAreFusedOnlyWithFuseUnk()
    {
        var vocab = new Dictionary<string, int> { ["<unk>"] = 0, ["a"] = 1, ["b"] = 2 };
        Assert.Equal([(0, 0, 1), (0, 1, 2)], Model(vocab, []).Tokenize("cc"));
        Assert.Equal([(1, 0, 1), (0, 1, 2), (0, 2, 3), (2, 3, 4)], Model(vocab, []).Tokenize("accb"));
        Assert.Equal([(0, 0, 2)], Model(vocab, [], fuseUnk: true).Tokenize("cc"));
        Assert.Equal([(1, 0, 1), (0, 1, 3), (2, 3, 4)], Model(vocab, [], fuseUnk: true).Tokenize("accb"));
    }

    [Fact]
    public void ByteFallbackCoversOnlyCharactersWhoseBytesAreAllInTheVocabulary()
    {
        var vocab = new Dictionary<string, int> { ["<unk>"] = 0, ["<0x61>"] = 1, ["<0x0A>"] = 2, ["<0xC3>"] = 3, ["<0xA9>"] = 4 };
        var model = Model(vocab, [], byteFallback: true);
        Assert.Equal([(0, 0, 1)], model.Tokenize("c"));
        Assert.Equal([(1, 0, 1)], model.Tokenize("a"));
        Assert.Equal([(2, 0, 1)], model.Tokenize("\n"));
        Assert.Equal([(3, 0, 1), (4, 0, 1)], model.Tokenize("é")); // both bytes carry the character's span
    }

    [Fact]
    public void ContinuingSubwordPrefixAndEndOfWordSuffix()
    {
        var prefixed = new Dictionary<string, int> { ["a"] = 0, ["##b"] = 1, ["##c"] = 2, ["ab"] = 3, ["abc"] = 4 };
        var model = Model(prefixed, [("a", "##b"), ("ab", "##c")], prefix: "##");
        Assert.Equal([(3, 0, 2)], model.Tokenize("ab"));
        Assert.Equal([(4, 0, 3)], model.Tokenize("abc"));
        var suffixed = new Dictionary<string, int> { ["a"] = 0, ["b</w>"] = 1, ["ab</w>"] = 2, ["b"] = 3 };
        var withSuffix = Model(suffixed, [("a", "b</w>")], suffix: "</w>");
        Assert.Equal([(2, 0, 2)], withSuffix.Tokenize("ab"));
        Assert.Equal([(3, 0, 1), (2, 1, 3)], withSuffix.Tokenize("bab")); // only the last character carries the suffix
    }
}

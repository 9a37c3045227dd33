using System.Text.Json;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Tokenization;

public class ByteLevelTokenizerTests
{
    /// <summary>
    /// Golden ids from the reference encoder @lenml/tokenizers (transformers.js) loading the tokenizer.json our writer
    /// produced (Fixtures/tools/make_byte_tokenizer_fixtures.mjs): the file means the same to Hugging Face tooling.
    /// </summary>
    [Fact]
    public void EncodesAndDecodesAsTheReferenceEncoderReadsOurTokenizerJson()
    {
        var tokenizer = new ByteLevelTokenizer();
        foreach (var c in Fixture.Json("tokenization", "byte_level_reference.json").EnumerateArray())
        {
            var text = c.GetProperty("text").GetString()!;
            var expected = c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var encoded = tokenizer.Encode(text);
            Assert.Equal(expected, encoded.Ids);
            Assert.Equal(c.GetProperty("decoded").GetString(), tokenizer.Decode(encoded.Ids));
        }
    }

    [Fact]
    public void WritesTheTokenizerFilesTheFixturesCameFrom()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-tok-" + Guid.NewGuid().ToString("N"));
        try
        {
            new ByteLevelTokenizer().Save(dir);
            Assert.Equal(File.ReadAllText(Fixture.PathOf("tokenization", "byte_level_tokenizer.json")),
                File.ReadAllText(Path.Combine(dir, "tokenizer.json")));
            Assert.True(ByteLevelTokenizer.IsSavedIn(dir));
            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")));
            Assert.Equal("<|im_end|>", config.RootElement.GetProperty("eos_token").GetString());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void OffsetsPointAtTheCharacterEachByteCameFrom()
    {
        var tokenizer = new ByteLevelTokenizer();
        var text = "a€<|im_end|>👋";
        var t = tokenizer.Encode(text);
        // a (1 byte), € (3 bytes), <|im_end|> (one special token), 👋 (4 bytes, a surrogate pair).
        Assert.Equal(new[] { (0, 1), (1, 2), (1, 2), (1, 2), (2, 12), (12, 14), (12, 14), (12, 14), (12, 14) }, t.Offsets);
        Assert.Equal(tokenizer.TokenToId("<|im_end|>"), t.Ids[4]);
        Assert.Equal("a€👋", tokenizer.Decode(t.Ids, skipSpecialTokens: true));
    }
}

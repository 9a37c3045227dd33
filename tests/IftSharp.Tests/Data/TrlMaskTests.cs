using System.IO.Compression;
using System.Text;
using System.Text.Json;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Tests.Support;
using IftSharp.Tests.Tokenization;
using IftSharp.Tokenization;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Data;

/// <summary>
/// TRL's loss masks on the real Qwen3 and Llama-3 tokenizers and templates, computed independently
/// (Fixtures/tools/make_trl_mask_fixtures.py: Python's Jinja2 as transformers configures it, the reference encoder
/// @lenml/tokenizers, the masks written out from TRL's SFT and DPO trainers and transformers' assistant mask): each row
/// goes through the dataset readers as a one-line JSONL file and must give exactly the fixture's ids and labels, warn
/// where TRL warns, and fail where Python fails. Then the first-step SFT and IFT losses of a tiny random model on two rows
/// equal an independent float64 PyTorch computation; the model's vocabulary is the ids those rows use (index i stands for
/// real id <c>vocabulary[i]</c>), so the test maps the readers' ids onto it.
/// </summary>
public class TrlMaskTests
{
    private static readonly JsonElement Golden = Fixture.Json("methods", "trl_masks.json");

    private static readonly Dictionary<string, Lazy<(ITokenizer Tokenizer, IChatTemplate? Template)>> Tokenizers =
        new[] { "qwen3", "llama3" }.ToDictionary(n => n, n => new Lazy<(ITokenizer,
            IChatTemplate?)>(() => TokenizerLoader.Load(Unpacked(n))));

    /// <summary>A fixture tokenizer folder with tokenizer.json decompressed.</summary>
    private static string Unpacked(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"iftsharp-trl-{name}-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(target))
        {
            using var gz = new GZipStream(File.OpenRead(Fixture.PathOf("tokenization", name, "tokenizer.json.gz")),
                CompressionMode.Decompress);
            using var reader = new StreamReader(gz, Encoding.UTF8);
            File.WriteAllText(target + ".tmp", reader.ReadToEnd(), new UTF8Encoding(false));
            File.Move(target + ".tmp", target, overwrite: true);
        }
        File.Copy(Fixture.PathOf("tokenization", name, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"),
            overwrite: true);
        return dir;
    }

    private static IEnumerable<JsonElement> All => Golden.GetProperty("rows").EnumerateArray();

    public static TheoryData<string> Rows() => [.. All.Select(r => r.GetProperty("name").GetString()!)];

    private static JsonElement Row(string name) => All.Single(r => r.GetProperty("name").GetString() == name);

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static long[] Longs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    private static void AssertSide(JsonElement expected, TrainingExample actual)
    {
        Assert.Equal(Ints(expected.GetProperty("input_ids")), actual.InputIds);
        Assert.Equal(Longs(expected.GetProperty("labels")), actual.Labels);
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void ReadersGiveTrlsIdsAndLabels(string name)
    {
        var row = Row(name);
        var (tokenizer, template) = Tokenizers[row.GetProperty("tokenizer").GetString()!].Value;
        var kind = row.GetProperty("kind").GetString();
        if (kind == "messages") template = RealChatTemplateTests.Load("qwen3_generation");
        var warnings = new List<string>();
        var options = new DatasetReadOptions(4096) { Warn = warnings.Add };
        var path = TempJsonl.Write(row.GetProperty("row").GetRawText());
        try
        {
            if (row.TryGetProperty("failure", out _))
            {
                var e = Assert.Throws<InputException>(() => ConversationDataset.ReadExamples(path, tokenizer, template, options));
                Assert.StartsWith(path + ":1: ", e.Message);
                return;
            }
            int expectedWarnings = 0;
            if (kind == "dpo")
            {
                var pair = Assert.Single(PreferenceDataset.Read(path, tokenizer, template, options));
                AssertSide(row.GetProperty("chosen"), pair.Chosen);
                AssertSide(row.GetProperty("rejected"), pair.Rejected);
                expectedWarnings = row.GetProperty("chosen").GetProperty("prompt_is_prefix").GetBoolean() ? 0 : 1;
            }
            else
            {
                var example = Assert.Single(ConversationDataset.ReadExamples(path, tokenizer, template, options));
                if (kind == "messages")
                {
                    Assert.Equal(Ints(row.GetProperty("input_ids")), example.InputIds);
                    Assert.Equal(Longs(row.GetProperty("labels")), example.Labels);
                }
                else
                {
                    AssertSide(row.GetProperty("completion"), example);
                    expectedWarnings = row.GetProperty("completion").GetProperty("prompt_is_prefix").GetBoolean() ? 0 : 1;
                }
            }
            // one summary line per file, a row counted once however many of its sides mismatch
            Assert.Equal(expectedWarnings, warnings.Count);
            if (expectedWarnings > 0) Assert.StartsWith($"{path}: 1 row (line 1) whose prompt", warnings[0]);
        }
        finally { File.Delete(path); }
    }

    /// <summary>The README's example of the two rules on Qwen3.</summary>
    [Fact]
    public void OnQwen3TheTwoRulesDifferByTheThinkBlockAndTheNewline()
    {
        var (tokenizer, template) = Tokenizers["qwen3"].Value;
        const string user = "{\"role\": \"user\", \"content\": \"What is 2 plus 2?\"}";
        const string assistant = "{\"role\": \"assistant\", \"content\": \"4.\"}";
        var path = TempJsonl.Write($"{{\"prompt\": [{user}], \"completion\": [{assistant}]}}", $"{{\"messages\": [{user}, {assistant}]}}");
        try
        {
            var examples = ConversationDataset.ReadExamples(path, tokenizer, template, new DatasetReadOptions(4096));
            Assert.Equal(examples[0].InputIds, examples[1].InputIds);
            var labelled = examples.Select(e => e.InputIds.Where((_, i) => e.Labels[i] != TokenLogProbs.IgnoreIndex).ToArray()).ToList();
            Assert.Equal("<think>\n\n</think>\n\n4.<|im_end|>\n", tokenizer.Decode(labelled[0]));
            Assert.Equal(8, labelled[0].Length);
            Assert.Equal("4.<|im_end|>", tokenizer.Decode(labelled[1]));
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("qwen3_basic")]
    [InlineData("llama3_basic")]
    public void FirstStepSftAndIftLossesMatchPyTorchOnTrlsMask(string name)
    {
        var row = Row(name);
        var (tokenizer, template) = Tokenizers[row.GetProperty("tokenizer").GetString()!].Value;
        var path = TempJsonl.Write(row.GetProperty("row").GetRawText());
        TrainingExample example;
        try { example = Assert.Single(ConversationDataset.ReadExamples(path, tokenizer, template, new DatasetReadOptions(4096))); }
        finally { File.Delete(path); }

        var vocabulary = Ints(Golden.GetProperty("vocabulary")).ToList();
        long Compact(long id) => vocabulary.IndexOf((int)id) is int i and >= 0 ? i : throw new InvalidOperationException($"id {id} is " +
            $"not in the model's vocabulary");
        using var scope = NewDisposeScope();
        using var model = LlamaForCausalLM.FromPretrained(Fixture.PathOf("models", "tiny-trl-vocab"), ScalarType.Float64);
        var ids = tensor(example.InputIds.Select(i => Compact(i)).ToArray()).reshape(1, -1);
        var labels = tensor(example.Labels.Select(l => l == TokenLogProbs.IgnoreIndex ? l : Compact(l)).ToArray()).reshape(1, -1);
        var mask = ones_like(ids);
        var losses = row.GetProperty("losses");
        const double tol = 1e-6;

        var (logps, m) = TokenLogProbs.Gather(model.Forward(ids, mask), labels);
        Assert.Equal(losses.GetProperty("sft").GetDouble(), Sft.Loss(logps, m).Loss.item<double>(), tol);
        var frozen = new FrozenEmbedding(model);
        Assert.Equal(losses.GetProperty("ift").GetDouble(), IftForward.Loss(model, ids, labels, mask, new IftOptions(),
            frozen).Loss.item<double>(), tol);
    }
}

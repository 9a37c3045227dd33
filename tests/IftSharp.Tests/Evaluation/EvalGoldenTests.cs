using System.Text.Json;
using IftSharp.Data;
using IftSharp.Evaluation;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Tests.Models;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Evaluation;

/// <summary>
/// Choice scoring on a real decoder (tiny-llama3: GQA, llama3 RoPE scaling, two layers) against the logits an
/// independent float64 PyTorch forward pass gave for it (<c>Fixtures/tools/make_model_fixtures.py</c>): the
/// log-likelihood of each continuation, batched with padding, is the sum of PyTorch's log-softmax at its tokens.
/// </summary>
public class EvalGoldenTests
{
    private const int Context = 3; // the first tokens of each sequence are the "prompt"; the rest is the scored choice

    [Fact]
    public void ChoiceLogLikelihoodsEqualPyTorchsLogSoftmaxAndTheChoiceFollows()
    {
        var dir = TinyModels.FixtureDirectory("tiny-llama3");
        using var model = LlamaForCausalLM.FromPretrained(dir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var root = doc.RootElement;
        int[][] Matrix(string name) =>
            root.GetProperty(name).EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        var ids = Matrix("input_ids");
        var mask = Matrix("attention_mask");
        var logits = root.GetProperty("logits");

        var rows = new List<TrainingExample>();
        var expected = new List<double>();
        for (int b = 0; b < ids.Length; b++)
        {
            int padding = mask[b].TakeWhile(m => m == 0).Count(); // the reference row is left-padded; ours is not
            var tokens = ids[b][padding..];
            rows.Add(new TrainingExample(tokens, tokens.Select((id, i) => i < Context ? TokenLogProbs.IgnoreIndex : id).ToArray()));
            double total = 0;
            for (int t = Context; t < tokens.Length; t++)
                total += LogSoftmax(logits[b][padding + t - 1], tokens[t]);
            expected.Add(total);
        }
        Assert.NotEqual(ids[0].Length - Context, ids[1].Length - mask[1].Count(m => m == 0) - Context); // rows of two lengths

        var evaluator = new ModelEvaluator(model, new IdTokenizer(model.Config.VocabSize), null, 256);
        var scored = evaluator.Score(rows, batchSize: 2); // one batch, the shorter row right-padded
        for (int b = 0; b < rows.Count; b++)
        {
            Assert.Equal(expected[b], scored[b].LogLikelihood, 4);
            Assert.Equal(rows[b].Length - Context, scored[b].Tokens);
        }

        // The same rows as the two choices of one item: acc takes the larger sum, acc_norm the larger sum per character.
        int[] characters = [1, 50];
        var item = new ChoiceItem("k", "p", ["first", "second"], rows, AnswerIndex: 0, characters);
        var result = ModelEval.Score(evaluator, new ChoiceTaskSet("golden", [item]), 1, 2, new EvalCallbacks());
        int chosen = expected[0] >= expected[1] ? 0 : 1;
        int chosenNorm = expected[0] / characters[0] >= expected[1] / characters[1] ? 0 : 1;
        Assert.Equal(chosen, result.Samples[0].Chosen);
        Assert.Equal(chosenNorm, result.Samples[0].ChosenNormalised);
        Assert.Equal(chosen == 0 ? 1.0 : 0.0, result.Metrics["acc"]);
        Assert.Equal(chosenNorm == 0 ? 1.0 : 0.0, result.Metrics["acc_norm"]);
    }

    /// <summary>log_softmax(row)[token] in float64.</summary>
    private static double LogSoftmax(JsonElement row, int token)
    {
        var values = row.EnumerateArray().Select(v => v.GetDouble()).ToArray();
        double max = values.Max();
        double logZ = max + Math.Log(values.Sum(v => Math.Exp(v - max)));
        return values[token] - logZ;
    }

    /// <summary>The scorer needs only a padding id from its tokenizer; these rows are ids already.</summary>
    private sealed class IdTokenizer(int vocabSize) : ITokenizer
    {
        public int VocabSize => vocabSize;
        public int? BosTokenId => null;
        public int? EosTokenId => null;
        public int? PadTokenId => 0;
        public string? BosToken => null;
        public string? EosToken => null;
        public TokenizedText Encode(string text, bool addSpecialTokens = false) => throw new NotSupportedException();
        public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false) => throw new NotSupportedException();
        public int? TokenToId(string token) => null;
    }
}

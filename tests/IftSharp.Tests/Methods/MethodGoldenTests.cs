using System.Text.Json;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Tests.Support;
using IftSharp.Training;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Methods;

/// <summary>
/// The methods whose batches are more than their objective (KTO's mismatched pairs, SPIN's generated answers), one step
/// on the tiny Llama-3-style checkpoint, against an independent float64 PyTorch computation on the same weights and token
/// rows (Fixtures/tools/make_method_golden_fixtures.py).
/// </summary>
public class MethodGoldenTests
{
    private static readonly JsonElement Golden = Fixture.Json("methods", "method_golden.json");
    private static readonly JsonElement Rows = Fixture.Json("methods", "first_step.json");
    private const int Prompt = 4;

    private static LlamaForCausalLM Model(double scale = 1)
    {
        var model = LlamaForCausalLM.FromPretrained(Fixture.PathOf("models", "tiny-llama3"), ScalarType.Float64);
        if (scale != 1) using (no_grad()) foreach (var p in model.parameters()) p.TimesInPlace(scale);
        return model;
    }

    /// <summary>Row <paramref name="i"/> without its padding, the first <see cref="Prompt"/> tokens unlabelled.</summary>
    private static TrainingExample Row(int i)
    {
        var ids = Rows.GetProperty("input_ids")[i].EnumerateArray().Select(x => x.GetInt32()).ToArray();
        int length = Rows.GetProperty("attention_mask")[i].EnumerateArray().Count(x => x.GetInt32() == 1);
        ids = ids[..length];
        return new TrainingExample(ids, ids.Select((id, t) => t < Prompt ? TokenLogProbs.IgnoreIndex : id).ToArray());
    }

    [Fact]
    public void KtoFirstStepLossMatchesPyTorch()
    {
        var kto = Golden.GetProperty("kto");
        var pick = kto.GetProperty("rows").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var desirable = kto.GetProperty("desirable").EnumerateArray().Select(x => x.GetBoolean()).ToArray();
        var items = pick.Select((r, k) => new UnpairedExample(Row(r), desirable[k])).ToList();
        using var policy = Model();
        using var reference = Model(1.1);
        foreach (var p in reference.parameters()) p.requires_grad = false;
        var history = Runs.Train("kto", policy, items, 0, new TrainerOptions { MaxSteps = 1, BatchSize = 2, LearningRate = 0 },
            reference: reference);
        Assert.Equal(kto.GetProperty("loss").GetDouble(), history[0].Loss, 1e-6);
        Assert.Equal(kto.GetProperty("kl").GetDouble(), history[0].Objective["kl"], 1e-6);
    }

    [Fact]
    public void SpinGeneratesThePolicysGreedyAnswersAndStartsAtLogTwo()
    {
        var spin = Golden.GetProperty("spin");
        var dir = Temp.Directory("spin-golden");
        try
        {
            using var policy = Model();
            var examples = Enumerable.Range(0, 4).Select(Row).ToList();
            var settings = new Dictionary<string, string>
            {
                ["spin-rounds"] = "1",
                ["spin-max-new-tokens"] = spin.GetProperty("max_new_tokens").ToString(),
            };
            var options = MethodRegistry.Options(MethodRegistry.Get("spin"), settings);
            var trainer = new TrainerOptions { MaxSteps = 1, BatchSize = 4, LearningRate = 0, OutputDirectory = dir };
            var history = Runs.Train("spin", policy, examples, 0, trainer, methodOptions: options);
            // Round 1's opponent is the policy itself: every log-ratio is 0, so the sigmoid loss is −log σ(0) = log 2.
            Assert.Equal(Math.Log(2), history[0].Loss, 1e-6);
            var lines = File.ReadAllLines(Path.Combine(dir, "spin-round-1.jsonl"));
            Assert.Equal(4, lines.Length);
            for (int i = 0; i < 4; i++)
            {
                using var row = JsonDocument.Parse(lines[i]);
                var r = row.RootElement;
                Assert.Equal(spin.GetProperty("rejected_ids")[i].EnumerateArray().Select(x => x.GetInt32()),
                    r.GetProperty("rejected_ids").EnumerateArray().Select(x => x.GetInt32()));
                Assert.Equal(examples[i].InputIds, r.GetProperty("chosen_ids").EnumerateArray().Select(x => x.GetInt32()));
                for (int s = 0; s < 2; s++)
                {
                    // float64 forwards differ by ~4e-9 relative (FirstStepLossTests)
                    Assert.Equal(spin.GetProperty("opponent_logps")[i][s].GetDouble(),
                        r.GetProperty("opponent_logps")[s].GetDouble(), 1e-6);
                }
            }
        }
        finally { Directory.Delete(dir, true); }
    }
}

using System.Text.Json;
using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using IftSharp.Training;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Training;

public class TrainerTests
{
    [Theory]
    [InlineData(ScheduleKind.Cosine, 0, 100, 10, 0.0)]
    [InlineData(ScheduleKind.Cosine, 5, 100, 10, 0.5)]
    [InlineData(ScheduleKind.Cosine, 10, 100, 10, 1.0)]
    [InlineData(ScheduleKind.Cosine, 55, 100, 10, 0.5)]   // halfway through the decay: (1 + cos π/2) / 2
    [InlineData(ScheduleKind.Linear, 55, 100, 10, 0.5)]
    [InlineData(ScheduleKind.Constant, 99, 100, 10, 1.0)]
    public void SchedulesWarmUpThenDecay(ScheduleKind kind, int step, int total, int warmup, double expected)
    {
        Assert.Equal(expected, LearningRateSchedule.Factor(kind, step, total, warmup), 12);
    }

    private static (LlamaForCausalLM Model, List<TrainingExample> Data, int Pad) Setup() =>
        (TinyLlama.Create(), TinyLlama.ReversalExamples(), TinyLlama.PadId);

    [Theory]
    [InlineData("sft")]
    [InlineData("ift")]
    public void LossFallsAndMetricsAreWrittenPerStep(string method)
    {
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-train-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (model, data, pad) = Setup();
            using var _ = model;
            var history = Runs.Train(method, model, data, pad,
                new TrainerOptions { MaxSteps = 30, BatchSize = 4, LearningRate = 2e-2, OutputDirectory = dir });
            Assert.Equal(30, history.Count);
            Assert.True(history[^1].Loss < 0.5 * history[0].Loss, $"loss {history[0].Loss} → {history[^1].Loss}");
            var lines = File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"));
            Assert.Equal(30, lines.Length);
            using var row = JsonDocument.Parse(lines[^1]);
            foreach (var field in new[] { "step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second", "num_tokens" })
                Assert.True(row.RootElement.TryGetProperty(field, out var _), field);
            if (method == "ift") Assert.True(row.RootElement.TryGetProperty("ift/first_pass_nll", out var _));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void EvalLossIsLoggedEveryEvalStepsAndAtTheEnd()
    {
        var (model, data, pad) = Setup();
        var history = Runs.Train("ift", model, data, pad, new TrainerOptions { MaxSteps = 5, BatchSize = 2, EvalSteps = 2 },
            evalData: data.Take(3).ToList());
        Assert.Equal(new[] { 2, 4, 5 }, history.Where(m => m.Objective.ContainsKey("eval_loss")).Select(m => m.Step));
        Assert.All(history.Where(m => m.Objective.ContainsKey("eval_loss")), m => Assert.True(m.Objective["eval_loss"] > 0));
    }

    [Fact]
    public void EachEpochSeesAFreshOrder()
    {
        // Each epoch's order is a full permutation, reproducible, and unlike the next epoch's.
        for (int epoch = 0; epoch < 5; epoch++)
        {
            var a = Trainer.Permutation(122, seed: 0, epoch);
            var b = Trainer.Permutation(122, seed: 0, epoch + 1);
            Assert.Equal(Enumerable.Range(0, 122), a.Order());
            Assert.True(a.Zip(b).Count(p => p.First != p.Second) > 100, $"epochs {epoch} and {epoch + 1} share most positions");
            Assert.True(a.Take(16).Intersect(b.Take(16)).Count() < 8, $"epochs {epoch} and {epoch + 1} start with nearly the same batch");
        }
        Assert.Equal(Trainer.Permutation(50, 3, 2), Trainer.Permutation(50, 3, 2));
    }

    [Fact]
    public void SameSeedSameLosses()
    {
        var (a, data, pad) = Setup();
        var (b, _, _) = Setup();
        var options = new TrainerOptions { MaxSteps = 5, BatchSize = 2, Seed = 3 };
        var first = Runs.Train("ift", a, data, pad, options).Select(m => m.Loss);
        var second = Runs.Train("ift", b, data, pad, options).Select(m => m.Loss);
        Assert.Equal(first, second);
    }

    [Fact]
    public void ANonFiniteLossStopsTheRunWithAClearMessage()
    {
        var (model, data, pad) = Setup();
        using (no_grad()) model.EmbedTokens.weight!.fill_(double.NaN);
        var e = Assert.Throws<IftSharp.Core.InputException>(() =>
            Runs.Train("sft", model, data, pad, new TrainerOptions { MaxSteps = 3, BatchSize = 2 }));
        Assert.Contains("step 1", e.Message);
    }

    [Fact]
    public void LengthGroupingIsASeededPermutationThatPadsLessAndStillChangesEveryEpoch()
    {
        var rng = new Random(1);
        var lengths = Enumerable.Range(0, 400).Select(_ => rng.Next(10, 300)).ToArray();
        int Padding(int[] order) => order.Chunk(8).Sum(b => b.Length * b.Max(i => lengths[i]) - b.Sum(i => lengths[i]));
        var grouped = Trainer.LengthGroupedOrder(lengths, 8, seed: 0, epoch: 0);
        Assert.Equal(Enumerable.Range(0, 400), grouped.Order());
        Assert.Equal(lengths.Max(), lengths[grouped[0]]); // the longest batch comes first
        var random = Trainer.Permutation(400, seed: 0, epoch: 0);
        Assert.True(Padding(grouped) * 4 < Padding(random), $"padding {Padding(grouped)} grouped vs {Padding(random)} random");
        Assert.Equal(grouped, Trainer.LengthGroupedOrder(lengths, 8, seed: 0, epoch: 0));
        Assert.NotEqual(grouped.Take(40), Trainer.LengthGroupedOrder(lengths, 8, seed: 0, epoch: 1).Take(40));
    }

    [Fact]
    public void MemoryStaysFlatOverTwoThousandSteps()
    {
        // Live tensors after 2,000 IFT steps (two passes, the frozen embedding copy, AdamW state) equal those after a
        // few: every step's temporaries are disposed, so memory cannot creep over a long run.
        var (model, data, pad) = Setup();
        Runs.Train("ift", model, data, pad, new TrainerOptions { MaxSteps = 3, BatchSize = 2 });
        GC.Collect(); GC.WaitForPendingFinalizers();
        long afterFew = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var history = Runs.Train("ift", model, data, pad, new TrainerOptions { MaxSteps = 2000, BatchSize = 2 });
        Assert.Equal(2000, history.Count);
        GC.Collect(); GC.WaitForPendingFinalizers();
        long afterMany = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.True(afterMany - afterFew < 60, $"live tensors grew from {afterFew} to {afterMany}");
    }
}

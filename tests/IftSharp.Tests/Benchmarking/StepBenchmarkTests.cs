using IftSharp.Benchmarking;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Training;
using Xunit;

namespace IftSharp.Tests.Benchmarking;

/// <summary>The benchmark's code paths run for every method (its numbers are measured by `iftsharp bench`, not asserted).</summary>
public class StepBenchmarkTests
{
    private static readonly BenchmarkShape Tiny = new()
    {
        Layers = 1, Hidden = 32, Heads = 2, Intermediate = 64, Vocab = 64, Sequence = 16, Batch = 2, Prompt = 4,
        Warmup = 1, Repeats = 2, // 3 steps: SPIN's 3 rounds
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void EveryMethodCompletesOptimizerSteps(string method)
    {
        var m = StepBenchmark.Run(method, Tiny);
        Assert.Equal(method, m.Method);
        Assert.True(m.MedianSeconds > 0 && double.IsFinite(m.TokensPerSecond));
        Assert.True(m.PeakResidentMegabytes > 0);
        bool covered = RawStep.Covers(method.Replace("-bf16", "", StringComparison.Ordinal).Replace("-2x", "", StringComparison.Ordinal));
        Assert.Equal(covered, m.RawMedianSeconds is > 0);
        Assert.Equal(Tiny.StepFlops(method), m.Flops);
    }

    [Theory]
    [InlineData("sft")]
    [InlineData("ift")]
    [InlineData("dpo")]
    public void TheRawStepTakesTheTrainersLossOnTheSameBatch(string name)
    {
        // The trainer's first loss, from the weights of seed 0, against the raw step's on the same start and items: the same
        // objective, so the gap between their times is the loop's own work and not a different loss.
        var method = MethodRegistry.Get(name);
        var data = method.Synthetic(new SyntheticRequest(Tiny.Batch, Tiny.Sequence, Tiny.Prompt, Tiny.Vocab));
        using var model = ModelFactory.CreateFromConfig(Tiny.Config, seed: 0);
        using var reference = method.NeedsReference ? ModelFactory.CreateFromConfig(Tiny.Config, seed: 0) : null;
        var session = new TrainingSession
        {
            Model = model, InitialReference = reference, PrecomputeReference = method.NeedsReference, PadId = 0,
            Options = new TrainerOptions { MaxSteps = 1, BatchSize = Tiny.Batch },
        };
        var trainerLoss = method.Train(session, data, null, method.Defaults)[0].Loss;
        using var start = ModelFactory.CreateFromConfig(Tiny.Config, seed: 0);
        using var raw = new RawStep(name, start, null, data, 1e-3);
        double before = raw.Loss();
        Assert.Equal(trainerLoss, before, 1e-5);
        raw.Run();
        Assert.NotEqual(before, raw.Loss()); // it steps
    }

    [Fact]
    public void StepFlopsCountEachEntrysPasses()
    {
        double sft = Tiny.SftStepFlops();
        Assert.Equal(sft, Tiny.StepFlops("sft-bf16"));
        Assert.Equal(2 * sft, Tiny.StepFlops("sft-2x"));
        Assert.Equal(2 * sft, Tiny.StepFlops("dpo"));
        // IFT: forward and backward (3 forwards' worth) plus the no-grad first pass.
        Assert.Equal(4.0 / 3 * sft, Tiny.StepFlops("ift-bf16"), 1e-6 * sft);
    }

    [Fact]
    public void TheProfileTimesEveryPieceAndTheWholePass()
    {
        foreach (var dtype in new[] { TorchSharp.torch.ScalarType.Float32, TorchSharp.torch.ScalarType.BFloat16 })
        {
            var r = StepProfile.Run(Tiny, dtype, repeats: 1);
            Assert.Contains(r.Pieces, p => p.Name == "attention: SDPA" && p.Calls == Tiny.Layers && p.TotalMs > 0);
            Assert.Equal(2 * Tiny.Layers + 1, r.Pieces.Single(p => p.Name == "RMSNorm").Calls);
            Assert.True(r.WholeForwardMs > 0 && r.WholeBackwardMs > 0);
            Assert.Contains(r.AroundThePasses, p => p.Name == "AdamW step");
            bool pushes = r.AroundThePasses.Any(p => p.Name.StartsWith("bf16", StringComparison.Ordinal));
            Assert.Equal(dtype == TorchSharp.torch.ScalarType.BFloat16, pushes);
            Assert.Contains("whole pass", StepProfile.Markdown(r), StringComparison.Ordinal);
        }
    }

    public static IEnumerable<object[]> Methods() => StepBenchmark.Methods.Select(m => new object[] { m });

    [Fact]
    public void GenerationRunsWithAndWithoutTheCache()
    {
        Assert.True(StepBenchmark.GenerationTokensPerSecond(Tiny, useCache: true, newTokens: 8) > 0);
        Assert.True(StepBenchmark.GenerationTokensPerSecond(Tiny, useCache: false, newTokens: 8) > 0);
    }

    [Fact]
    public void FlopCountFollowsTheFormula()
    {
        // 1 layer: 4·32² + 3·32·64 = 10240 matmul params in the layer, + 64·32 = 2048 for the tied head → N = 12288.
        // Per token 6N + 12·L·d·T = 73728 + 12·1·32·16 = 79872; × 2·16 tokens = 2555904.
        Assert.Equal(2555904.0, Tiny.SftStepFlops());
    }
}

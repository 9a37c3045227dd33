using IftSharp.Benchmarking;
using Xunit;

namespace IftSharp.Tests.Benchmarking;

/// <summary>The benchmark's code paths run for every method (its numbers are measured by `iftsharp bench`, not asserted).</summary>
public class StepBenchmarkTests
{
    private static readonly BenchmarkShape Tiny = new()
    {
        Layers = 1, Hidden = 32, Heads = 2, Intermediate = 64, Vocab = 64, Sequence = 16, Batch = 2, Prompt = 4, Warmup = 1, Repeats = 2, // 3 steps: SPIN's 3 rounds
    };

    [Theory]
    [MemberData(nameof(Methods))]
    public void EveryMethodCompletesOptimizerSteps(string method)
    {
        var m = StepBenchmark.Run(method, Tiny);
        Assert.Equal(method, m.Method);
        Assert.True(m.MedianSeconds > 0 && double.IsFinite(m.TokensPerSecond));
        Assert.True(m.PeakResidentMegabytes > 0);
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

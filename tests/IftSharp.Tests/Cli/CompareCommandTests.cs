using IftSharp.Tests.Support;
using Xunit;

namespace IftSharp.Tests.Cli;

/// <summary><c>iftsharp compare</c>'s own flags (the pipeline itself: Evaluation/ComparePipelineTests).</summary>
public class CompareCommandTests
{
    [Fact]
    public void MoreTuningSeedsThanSeedsIsAOneLineErrorBeforeAnyWork()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-compare-cli-" + Guid.NewGuid().ToString("N"));
        var outcome = CliRun.Run("compare", "--seeds", "2", "--tuning-seeds", "3", "--output", dir);
        outcome.AssertError(2, "--tuning-seeds: expected 1 to 2 (the number of seeds), got 3");
        Assert.False(Directory.Exists(dir));
    }
}

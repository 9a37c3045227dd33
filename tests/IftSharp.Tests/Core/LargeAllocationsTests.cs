using IftSharp.Core;
using Xunit;

namespace IftSharp.Tests.Core;

public class LargeAllocationsTests
{
    [Fact]
    public void GlibcAcceptsTheTuning()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("IFTSHARP_MALLOC_TUNING") == "0") return;
        LargeAllocations.KeepPagesAcrossSteps();
        LargeAllocations.KeepPagesAcrossSteps(); // idempotent
        Assert.True(LargeAllocations.Active, "mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, ...) should both succeed on glibc");
    }

    [Theory]
    [InlineData(null, 1_000_000, true)] // unset: a small model keeps its pages
    [InlineData("", 299_999_999, true)]
    [InlineData(null, 300_000_000, false)] // unset: from 300 M parameters on, glibc's defaults
    [InlineData("keep", 7_000_000_000, true)] // asked for: whatever the size
    [InlineData("trim", 7_000_000_000, true)]
    [InlineData("4096", 7_000_000_000, true)]
    [InlineData("0", 1_000, false)] // turned off: whatever the size
    public void AnUnsetModeTunesOnlySmallModels(string? mode, long parameters, bool tunes) =>
        Assert.Equal(tunes, LargeAllocations.Tunes(mode, parameters));
}

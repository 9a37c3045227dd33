using IftSharp.Core;
using Xunit;

namespace IftSharp.Tests.Core;

public class LargeAllocationsTests
{
    [Fact]
    public void GlibcAcceptsTheTuning()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("IFTSHARP_MALLOC_TUNING") == "0") return;
        LargeAllocations.Apply();
        LargeAllocations.Apply(); // idempotent
        Assert.True(LargeAllocations.Active, "mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, ...) should both succeed on glibc");
    }

    [Theory]
    [InlineData(null, 1_000_000, LargeAllocations.Mode.Keep)] // unset: a small model keeps its pages
    [InlineData("", 299_999_999, LargeAllocations.Mode.Keep)]
    [InlineData(null, 300_000_000, LargeAllocations.Mode.Return)] // unset: from 300 M parameters on, pages go back
    [InlineData("keep", 7_000_000_000, LargeAllocations.Mode.Keep)] // asked for: whatever the size
    [InlineData("trim", 7_000_000_000, LargeAllocations.Mode.Keep)]
    [InlineData("4096", 7_000_000_000, LargeAllocations.Mode.Keep)]
    [InlineData("return", 1_000, LargeAllocations.Mode.Return)]
    [InlineData("0", 1_000, LargeAllocations.Mode.Glibc)] // turned off: whatever the size
    [InlineData("0", 7_000_000_000, LargeAllocations.Mode.Glibc)]
    public void AnUnsetModeChoosesByTheModelsSize(string? mode, long parameters, LargeAllocations.Mode chosen) =>
        Assert.Equal(chosen, LargeAllocations.Choose(mode, parameters));
}

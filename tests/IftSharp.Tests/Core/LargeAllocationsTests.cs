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
}

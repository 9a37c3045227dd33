using System.Runtime.InteropServices;

namespace IftSharp.Core;

/// <summary>
/// Keeps glibc's malloc from giving every large tensor fresh pages. By default glibc serves allocations above 32 MiB
/// (the logits of a batch, their gradient, attention and MLP activations) with a new <c>mmap</c> and unmaps them on
/// free, so each training step takes a page fault and a kernel zero-fill for every page of every large tensor; on
/// this benchmark that was 30–57 % of an SFT step, and it grew faster than the batch. Turning mmap off for the heap
/// and keeping freed memory (a large trim threshold) lets libtorch reuse the same pages step after step, as
/// PyTorch's CPU tuning guide gets by preloading jemalloc or tcmalloc.
/// </summary>
/// <remarks>Process-wide and idempotent; a no-op off Linux/glibc or when <c>IFTSHARP_MALLOC_TUNING=0</c>.</remarks>
public static class LargeAllocations
{
    private const int TrimThreshold = -1, MmapMax = -4; // glibc's M_TRIM_THRESHOLD and M_MMAP_MAX
    private static int _applied;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    /// <summary>Whether the tuning is in effect in this process.</summary>
    public static bool Active { get; private set; }

    /// <summary>Applies the tuning once per process.</summary>
    public static void KeepPagesAcrossSteps()
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1) return;
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("IFTSHARP_MALLOC_TUNING") == "0") return;
        try
        {
            Active = Mallopt(MmapMax, 0) == 1 & Mallopt(TrimThreshold, int.MaxValue) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // musl or another libc without mallopt: nothing to tune.
        }
    }
}

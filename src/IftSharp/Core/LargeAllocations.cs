using System.Globalization;
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
/// <remarks>
/// Process-wide and idempotent; a no-op off Linux/glibc. <c>IFTSHARP_MALLOC_TUNING</c> chooses the mode:
/// <c>0</c> glibc's defaults; <c>keep</c> mmap off and every freed page kept; <c>trim</c> the same, and
/// <see cref="AfterStep"/> gives the free pages back after each optimizer step; a number N: mmap off, and the free top
/// of the heap given back above N MiB (a cap on what is kept beyond the live tensors). Unset: <c>keep</c> for models under
/// <see cref="LargeModelParameters"/>, glibc's defaults from there on: at real sizes the kept pages fragment into
/// gigabytes the step never uses (Qwen2.5-0.5B, batch 4 × 512: 11.8 against 9.8 GiB for full fine-tuning with
/// checkpointing and the chunked loss, 4.2 against 3.2 GiB with LoRA and bf16), while the page faults they save are a
/// small share of a step whose matrix products grow with the hidden size.
/// </remarks>
public static class LargeAllocations
{
    private const int TrimThreshold = -1, TopPad = -2, MmapMax = -4; // glibc's M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX
    private static int _applied;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    /// <summary>Whether the tuning is in effect in this process.</summary>
    public static bool Active { get; private set; }

    /// <summary>The cap on the free top of the heap, in MiB, when one is set (null: every freed page kept, or no tuning).</summary>
    public static int? CapMegabytes { get; private set; }

    /// <summary>Whether <see cref="AfterStep"/> trims (<c>IFTSHARP_MALLOC_TUNING=trim</c>).</summary>
    public static bool TrimsAfterStep { get; private set; }

    /// <summary>From this many parameters on, an unset <c>IFTSHARP_MALLOC_TUNING</c> means glibc's defaults.</summary>
    public const long LargeModelParameters = 300_000_000;

    /// <summary>The parameter count that made an unset mode keep glibc's defaults (null: it did not).</summary>
    public static long? DefaultsForModelOf { get; private set; }

    /// <summary>
    /// Whether a process whose first model has <paramref name="parameters"/> parameters tunes malloc under the mode
    /// <paramref name="mode"/> (the value of <c>IFTSHARP_MALLOC_TUNING</c>): not under <c>0</c>, not for a large model
    /// when the mode is unset.
    /// </summary>
    public static bool Tunes(string? mode, long parameters) =>
        mode != "0" && (!string.IsNullOrEmpty(mode) || parameters < LargeModelParameters);

    /// <summary>
    /// Applies the tuning once per process; the first caller decides, with the size of the model it is about to train or
    /// score (null when it does not know: the small benchmark models). The size is asked for only by that first call, so
    /// callers on a path that runs often (scoring a checkpoint) pay nothing after it.
    /// </summary>
    public static void KeepPagesAcrossSteps(Func<long>? parameterCount = null)
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1) return;
        var mode = Environment.GetEnvironmentVariable("IFTSHARP_MALLOC_TUNING");
        if (!OperatingSystem.IsLinux()) return;
        long parameters = parameterCount?.Invoke() ?? 0;
        if (!Tunes(mode, parameters))
        {
            if (mode != "0") DefaultsForModelOf = parameters;
            return;
        }
        int? cap = int.TryParse(mode, NumberStyles.None, CultureInfo.InvariantCulture, out var megabytes) && megabytes > 0
            ? megabytes : null;
        try
        {
            bool trim = cap is int mb
                ? Mallopt(TrimThreshold, mb << 20) == 1 & Mallopt(TopPad, 64 << 20) == 1
                : Mallopt(TrimThreshold, int.MaxValue) == 1;
            Active = Mallopt(MmapMax, 0) == 1 & trim;
            CapMegabytes = Active ? cap : null;
            TrimsAfterStep = Active && mode == "trim";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // musl or another libc without mallopt: nothing to tune.
        }
    }

    /// <summary>
    /// Gives the heap's free pages back to the kernel (glibc's <c>malloc_trim(0)</c>: the top and every free page inside
    /// the heap); the next step faults in again only what it touches. Returns whether anything was released.
    /// </summary>
    public static bool Trim()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return MallocTrim(0) == 1; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    /// <summary>
    /// What a training loop calls after each optimizer step: under <c>trim</c>, the pages the step freed go back to the
    /// kernel, so memory between steps (evaluation, generation, another process) is the live tensors only.
    /// </summary>
    public static void AfterStep()
    {
        if (TrimsAfterStep) Trim();
    }

    /// <summary>The mode in effect, in words (for benchmark reports).</summary>
    public static string Describe() =>
        DefaultsForModelOf is long n ? $"glibc defaults (a model of {n / 1e6:F0} M parameters; IFTSHARP_MALLOC_TUNING=keep keeps pages)"
        : !Active ? "glibc defaults"
        : CapMegabytes is int cap ? $"mmap off, free heap top above {cap} MiB returned"
        : TrimsAfterStep ? "mmap off, freed pages returned after each step"
        : "mmap off, freed pages kept";
}

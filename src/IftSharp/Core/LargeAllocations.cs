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
/// of the heap given back above N MiB (a cap on what is kept beyond the live tensors); <c>return</c> the opposite of
/// <c>keep</c>: every allocation from <see cref="ReturnThresholdBytes"/> on is its own mapping, given back when freed.
/// Unset: <c>keep</c> for models under <see cref="LargeModelParameters"/>, <c>return</c> from there on. At real sizes
/// kept pages fragment into gigabytes the step never uses, and so does glibc's default heap, whose mmap threshold
/// rises to 32 MiB after the first large free: at Qwen2.5-0.5B, batch 4 × 512, LoRA + bf16 + checkpointing + chunked
/// loss, malloc's live peak is 1.6 GiB while the resident peak is 4.2 GiB kept and 3.2 GiB with glibc's defaults, and
/// 1.75 GiB under <c>return</c>. Its fresh mappings cost page faults (1.23–1.35× a step there) unless the process was
/// started with <c>GLIBC_TUNABLES=glibc.malloc.hugetlb=1</c>, which glibc reads only at start-up.
/// </remarks>
public static class LargeAllocations
{
    // glibc's M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX
    private const int TrimThreshold = -1, TopPad = -2, MmapThreshold = -3, MmapMax = -4;
    private static int _applied;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    /// <summary>The modes <c>IFTSHARP_MALLOC_TUNING</c> names.</summary>
    public enum Mode
    {
        /// <summary>glibc's defaults (<c>0</c>).</summary>
        Glibc,
        /// <summary>
        /// mmap off, freed pages kept (<c>keep</c>; a number N: kept up to N MiB; <c>trim</c>: kept until the step ends).
        /// </summary>
        Keep,
        /// <summary>
        /// Every allocation from <see cref="ReturnThresholdBytes"/> on mapped on its own and unmapped when freed (<c>return</c>).
        /// </summary>
        Return,
    }

    /// <summary>Whether the tuning is in effect in this process (<see cref="Mode.Keep"/> or <see cref="Mode.Return"/>).</summary>
    public static bool Active => Current != Mode.Glibc;

    /// <summary>The mode in effect (<see cref="Mode.Glibc"/> until a tuning was applied).</summary>
    public static Mode Current { get; private set; }

    /// <summary>The cap on the free top of the heap, in MiB, when one is set (null: every freed page kept, or no tuning).</summary>
    public static int? CapMegabytes { get; private set; }

    /// <summary>Whether <see cref="AfterStep"/> trims (<c>IFTSHARP_MALLOC_TUNING=trim</c>).</summary>
    public static bool TrimsAfterStep { get; private set; }

    /// <summary>From this many parameters on, an unset <c>IFTSHARP_MALLOC_TUNING</c> means <see cref="Mode.Return"/>.</summary>
    public const long LargeModelParameters = 300_000_000;

    /// <summary>
    /// Under <see cref="Mode.Return"/>, allocations from this size on get their own mapping. Fixed, so glibc's dynamic
    /// threshold (which climbs to 32 MiB and leaves everything below it to the fragmenting heap) is off; 1 MiB keeps
    /// the small, frequent allocations (norms, scalars, per-head pieces) on the heap.
    /// </summary>
    public const int ReturnThresholdBytes = 1 << 20;

    /// <summary>The parameter count that made an unset mode choose <see cref="Mode.Return"/> (null: it did not).</summary>
    public static long? ChosenForModelOf { get; private set; }

    /// <summary>
    /// The mode a process whose first model has <paramref name="parameters"/> parameters runs under, given the value
    /// <paramref name="mode"/> of <c>IFTSHARP_MALLOC_TUNING</c>: what it names, or by the model's size when unset.
    /// </summary>
    public static Mode Choose(string? mode, long parameters) => mode switch
    {
        "0" => Mode.Glibc,
        "return" => Mode.Return,
        null or "" => parameters < LargeModelParameters ? Mode.Keep : Mode.Return,
        _ => Mode.Keep,
    };

    /// <summary>
    /// Applies the tuning once per process; the first caller decides, with the size of the model it is about to train or
    /// score (null when it does not know: the small benchmark models). The size is asked for only by that first call, so
    /// callers on a path that runs often (scoring a checkpoint) pay nothing after it.
    /// </summary>
    public static void Apply(Func<long>? parameterCount = null)
    {
        if (Interlocked.Exchange(ref _applied, 1) == 1) return;
        var setting = Environment.GetEnvironmentVariable("IFTSHARP_MALLOC_TUNING");
        if (!OperatingSystem.IsLinux()) return;
        long parameters = parameterCount?.Invoke() ?? 0;
        var mode = Choose(setting, parameters);
        if (mode == Mode.Glibc) return;
        try
        {
            if (mode == Mode.Return)
            {
                if (Mallopt(MmapThreshold, ReturnThresholdBytes) != 1) return;
                if (string.IsNullOrEmpty(setting)) ChosenForModelOf = parameters;
            }
            else
            {
                int? cap = int.TryParse(setting, NumberStyles.None, CultureInfo.InvariantCulture, out var megabytes) && megabytes > 0
                    ? megabytes : null;
                bool trim = cap is int mb
                    ? Mallopt(TrimThreshold, mb << 20) == 1 & Mallopt(TopPad, 64 << 20) == 1
                    : Mallopt(TrimThreshold, int.MaxValue) == 1;
                if (!(Mallopt(MmapMax, 0) == 1 & trim)) return;
                CapMegabytes = cap;
                TrimsAfterStep = setting == "trim";
            }
            Current = mode;
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
        !Active ? "glibc defaults"
        : Current == Mode.Return
            ? $"allocations from {ReturnThresholdBytes >> 20} MiB mapped and given back on free"
              + (ChosenForModelOf is long n ? $" (a model of {n / 1e6:F0} M parameters; IFTSHARP_MALLOC_TUNING=keep keeps pages)" : "")
        : CapMegabytes is int cap ? $"mmap off, free heap top above {cap} MiB returned"
        : TrimsAfterStep ? "mmap off, freed pages returned after each step"
        : "mmap off, freed pages kept";
}

using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Core;

/// <summary>
/// Prepares libtorch once per process before its first computation: loads it, answers MKL's vendor check on AMD
/// processors (<see cref="MklVendorCheck"/>) and sizes its intra-op thread pool to the cores the process may use
/// (<see cref="CpuBudget"/>). It runs by itself when IftSharp's assembly is first used (a module initializer); a
/// program that calls TorchSharp before any IftSharp code calls <see cref="Initialize"/> first, because MKL fixes its
/// code path at its first call.
/// </summary>
public static class NativeSetup
{
    private static readonly Lock Gate = new();
    private static bool _initialized;

    /// <summary>How the intra-op thread count was chosen (for the bench's and the demo's setup lines).</summary>
    public static string ThreadSource { get; private set; } = "libtorch's default";

    /// <summary>The error that kept libtorch from loading at initialisation, if any (it surfaces again at first use).</summary>
    public static string? LoadError { get; private set; }

    /// <summary>
    /// Loads libtorch, applies <see cref="MklVendorCheck"/> and sets the thread count; idempotent and thread-safe.
    /// Never throws: a libtorch that cannot load fails again, with TorchSharp's message, where it is first used.
    /// </summary>
    public static void Initialize()
    {
        lock (Gate)
        {
            if (_initialized) return;
            _initialized = true;
            try
            {
                InitializeDeviceType(DeviceType.CPU); // loads libtorch without running any MKL code
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LoadError = e.Message;
                return;
            }
            MklVendorCheck.Apply();
            if (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is { Length: > 0 } omp)
            {
                ThreadSource = $"OMP_NUM_THREADS={omp}";
                return;
            }
            var (cores, reason) = CpuBudget.Measure();
            if (get_num_threads() != cores) set_num_threads(cores);
            ThreadSource = reason;
        }
    }

    /// <summary>Overrides the intra-op thread count (the command line's <c>--threads N</c>).</summary>
    public static void SetThreads(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Initialize();
        set_num_threads(threads);
        ThreadSource = "--threads";
    }

    /// <summary>One line describing the native setup: threads and MKL's vendor check.</summary>
    public static string Describe() =>
        $"libtorch uses {get_num_threads()} intra-op threads ({ThreadSource}), {get_num_interop_threads()} inter-op; " +
        $"MKL vendor check: {MklVendorCheck.Detail}";

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "MKL fixes its code path at its first call: the setup must come first.")]
    internal static void InitializeOnFirstUse() => Initialize();
}

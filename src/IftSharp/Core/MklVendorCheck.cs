using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace IftSharp.Core;

/// <summary>What <see cref="MklVendorCheck.Apply"/> found and did.</summary>
public enum MklVendorCheckState
{
    /// <summary>Not attempted yet.</summary>
    NotApplied,
    /// <summary>libtorch's MKL now gets "yes" from its vendor check and picks its code path from the instruction sets alone.</summary>
    Active,
    /// <summary>Turned off with <c>IFTSHARP_MKL_VENDOR_CHECK=0</c>; nothing was changed.</summary>
    Disabled,
    /// <summary>The processor is not an AMD one (an Intel processor already gets MKL's fast paths); nothing was changed.</summary>
    NotAmd,
    /// <summary>Not Linux on x86-64; nothing was changed.</summary>
    NotLinuxX64,
    /// <summary>libtorch_cpu.so is not loaded, or does not call the vendor check by name (another build of libtorch).</summary>
    NotFound,
    /// <summary>MKL had already asked (its answer, and its code path, are cached): left alone.</summary>
    TooLate,
    /// <summary>The slot already points at a function defined elsewhere (an <c>LD_PRELOAD</c>ed answer): left alone.</summary>
    AnsweredElsewhere,
    /// <summary>Something unexpected failed; nothing was changed (see <see cref="MklVendorCheck.Detail"/>).</summary>
    Failed,
}

/// <summary>
/// Lets the MKL inside libtorch_cpu.so use its fast code paths on AMD processors. MKL picks a code path from the
/// processor's instruction sets only after asking <c>mkl_serv_intel_cpu_true()</c> whether it runs on an Intel
/// processor; on AMD the answer is no and MKL falls back to its generic path (on this project's AVX-512 machine, float32
/// GEMM at 40–45 % of what the same cores reach on the AVX-512 path). libtorch_cpu.so calls that function through its
/// procedure linkage table, lazily bound, so this class points the library's slot for it at a six-byte function that
/// answers 1 (<c>mov eax, 1; ret</c>) before MKL first asks. MKL still reads the instruction sets itself: only the
/// vendor question is answered, so it never runs an instruction the processor lacks.
/// </summary>
/// <remarks>
/// Changes nothing on a non-AMD processor, when <c>IFTSHARP_MKL_VENDOR_CHECK=0</c>, when the slot has already been
/// bound (MKL has asked and cached its code path; patching then would mix two paths), or when the slot is bound to a
/// function from another library (an <c>LD_PRELOAD</c>ed shim doing the same). Process-wide and idempotent.
/// </remarks>
public static unsafe class MklVendorCheck
{
    /// <summary>The function libtorch_cpu.so's MKL asks about the vendor.</summary>
    public const string VendorCheckSymbol = "mkl_serv_intel_cpu_true";

    /// <summary>The environment variable that turns it off when set to 0.</summary>
    public const string EnvironmentVariable = "IFTSHARP_MKL_VENDOR_CHECK";

    private const string LibTorchCpu = "libtorch_cpu.so";
    private const int ProtRead = 0x1, ProtWrite = 0x2, ProtExec = 0x4, MapPrivate = 0x02, MapAnonymous = 0x20;
    private static readonly byte[] ReturnOne = [0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3]; // mov eax, 1; ret
    private static readonly Lock Gate = new();

    /// <summary>What the last <see cref="Apply"/> found and did.</summary>
    public static MklVendorCheckState State { get; private set; }

    /// <summary>One line for logs and the bench: the state and why.</summary>
    public static string Detail { get; private set; } = "not applied";

    /// <summary>
    /// Answers MKL's vendor check in libtorch_cpu.so when it applies (see the class remarks). Must run after libtorch
    /// is loaded and before its first MKL call (the first matrix product); <see cref="NativeSetup.Initialize"/> does both.
    /// </summary>
    public static MklVendorCheckState Apply()
    {
        lock (Gate)
        {
            if (State == MklVendorCheckState.Active) return State;
            (State, Detail) = Decide(ProcessorVendor(), Environment.GetEnvironmentVariable(EnvironmentVariable),
                OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64);
            if (State != MklVendorCheckState.NotApplied) return State;
            try
            {
                (State, Detail) = PatchSlot();
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or InvalidOperationException)
            {
                (State, Detail) = (MklVendorCheckState.Failed, $"failed: {e.Message}");
            }
            return State;
        }
    }

    /// <summary>
    /// Whether to act, from the processor's CPUID vendor string, the environment variable's value and the platform:
    /// <see cref="MklVendorCheckState.NotApplied"/> means go ahead.
    /// </summary>
    public static (MklVendorCheckState State, string Detail) Decide(string vendor, string? environmentValue, bool linuxX64)
    {
        if (environmentValue?.Trim() == "0") return (MklVendorCheckState.Disabled, $"off ({EnvironmentVariable}=0)");
        if (!linuxX64) return (MklVendorCheckState.NotLinuxX64, "not applicable (not Linux x86-64)");
        if (vendor != "AuthenticAMD") return (MklVendorCheckState.NotAmd, $"not needed (CPU vendor '{vendor}')");
        return (MklVendorCheckState.NotApplied, "");
    }

    /// <summary>The processor's CPUID vendor string ("AuthenticAMD", "GenuineIntel", ...), or "" off x86.</summary>
    public static string ProcessorVendor()
    {
        if (!X86Base.IsSupported) return "";
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<int> registers = [ebx, edx, ecx]; // the vendor string's order
        return System.Text.Encoding.ASCII.GetString(MemoryMarshal.AsBytes(registers));
    }

    /// <summary>
    /// What libtorch_cpu.so's own calls to the vendor check now answer, by calling through its slot (binding it if it
    /// is still unbound, as the library's first call would), or null when the library or the slot cannot be found.
    /// </summary>
    public static int? AnswerSeenByLibTorch()
    {
        var library = LoadedLibrary.Find(LibTorchCpu);
        nint* slot = library?.JumpSlot(VendorCheckSymbol);
        if (slot is null) return null;
        // An unbound slot holds the address of the library's lazy-binding stub, which binds the slot and calls the target.
        return ((delegate* unmanaged<int>)*slot)();
    }

    private static (MklVendorCheckState, string) PatchSlot()
    {
        var library = LoadedLibrary.Find(LibTorchCpu);
        if (library is null) return (MklVendorCheckState.NotFound, $"not applied ({LibTorchCpu} is not loaded)");
        nint* slot = library.JumpSlot(VendorCheckSymbol);
        nint definition = library.Definition(VendorCheckSymbol);
        if (slot is null || definition == 0)
            return (MklVendorCheckState.NotFound, $"not applied ({LibTorchCpu} does not call {VendorCheckSymbol} by name)");
        nint bound = *slot;
        if (bound == definition)
            return (MklVendorCheckState.TooLate, "not applied (MKL had already run its vendor check; call NativeSetup.Initialize earlier)");
        if (!library.Contains(bound))
            return (MklVendorCheckState.AnsweredElsewhere, $"already answered by another library ({VendorCheckSymbol} preloaded)");
        // Still unbound: the slot points at the library's own lazy-binding stub, in a page the dynamic linker writes
        // itself on the first call (a lazily bound slot is never in the read-only RELRO range).
        *slot = ExecutableReturnOne();
        return (MklVendorCheckState.Active, $"answered for this AMD processor ({EnvironmentVariable}=0 turns it off)");
    }

    private static nint ExecutableReturnOne()
    {
        nint page = Native.mmap(0, 4096, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (page == -1) throw new InvalidOperationException("mmap of one page failed");
        ReturnOne.CopyTo(new Span<byte>((void*)page, ReturnOne.Length));
        if (Native.mprotect(page, 4096, ProtRead | ProtExec) != 0)
        {
            Native.munmap(page, 4096);
            throw new InvalidOperationException("mprotect to read+execute failed");
        }
        return page; // never unmapped: libtorch may call it until the process ends
    }

    private static class Native
    {
        [DllImport(Glibc.Library)]
        public static extern nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

        [DllImport(Glibc.Library)]
        public static extern int mprotect(nint address, nuint length, int protection);

        [DllImport(Glibc.Library)]
        public static extern int munmap(nint address, nuint length);
    }
}

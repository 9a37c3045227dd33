using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using IftSharp.Core;
using Xunit;

namespace IftSharp.Tests.Core;

/// <summary>A fact that runs only where the vendor check is meant to be answered: an AMD processor, not turned off.</summary>
public sealed class AmdWithVendorCheckFactAttribute : FactAttribute
{
    public AmdWithVendorCheckFactAttribute()
    {
        var vendor = MklVendorCheck.ProcessorVendor();
        if (vendor != "AuthenticAMD")
            Skip = $"MKL's vendor check is answered only on AMD processors; this one is '{vendor}'";
        else if (Environment.GetEnvironmentVariable(MklVendorCheck.EnvironmentVariable) == "0")
            Skip = $"{MklVendorCheck.EnvironmentVariable}=0 turns the vendor check's answer off in this run";
    }
}

public class MklVendorCheckTests
{
    // mkl_cbwr.h: the code-path branches MKL reports; COMPATIBLE is the generic path AMD gets without the answer.
    private const int CbwrCompatible = 2, CbwrAvx2 = 10, CbwrAvx512 = 12;

    [AmdWithVendorCheckFact]
    public void OnAmdLibTorchsSlotAnswersOneAndMklDispatchedToTheInstructionSetsPath()
    {
        Assert.Equal(MklVendorCheckState.Active, MklVendorCheck.State);
        var library = NativeLibrary.Load("libtorch_cpu.so", typeof(MklVendorCheck).Assembly, null);
        var ownDefinition = Function(library, MklVendorCheck.VendorCheckSymbol);
        Assert.Equal(0, ownDefinition()); // MKL's own answer on AMD: what the slot would otherwise reach
        Assert.Equal(1, MklVendorCheck.AnswerSeenByLibTorch());

        // MKL's dispatcher itself, which caches its choice at the first call: the generic path (0, COMPATIBLE) would
        // mean the answer came too late or never reached it.
        var cpuDetect = Function(library, "mkl_serv_cpu_detect");
        var autoBranch = Function(library, "mkl_serv_cbwr_get_auto_branch");
        Assert.NotEqual(0, cpuDetect());
        int branch = autoBranch();
        Assert.NotEqual(CbwrCompatible, branch);
        if (Avx512F.IsSupported) Assert.True(branch >= CbwrAvx512, $"AVX-512 processor, MKL branch {branch}");
        else if (Avx2.IsSupported) Assert.True(branch >= CbwrAvx2, $"AVX2 processor, MKL branch {branch}");
    }

    private delegate int NativeIntFunction();

    private static NativeIntFunction Function(nint library, string name) =>
        Marshal.GetDelegateForFunctionPointer<NativeIntFunction>(NativeLibrary.GetExport(library, name));

    [AmdWithVendorCheckFact]
    public void ApplyingAgainKeepsItActive()
    {
        Assert.Equal(MklVendorCheckState.Active, MklVendorCheck.Apply());
        Assert.Equal(1, MklVendorCheck.AnswerSeenByLibTorch());
    }

    [Theory]
    [InlineData("GenuineIntel", null, true, MklVendorCheckState.NotAmd)]
    [InlineData("GenuineIntel", "1", true, MklVendorCheckState.NotAmd)]
    [InlineData("HygonGenuine", null, true, MklVendorCheckState.NotAmd)]
    [InlineData("AuthenticAMD", "0", true, MklVendorCheckState.Disabled)]
    [InlineData("AuthenticAMD", " 0 ", true, MklVendorCheckState.Disabled)]
    [InlineData("GenuineIntel", "0", true, MklVendorCheckState.Disabled)]
    [InlineData("AuthenticAMD", null, false, MklVendorCheckState.NotLinuxX64)]
    [InlineData("AuthenticAMD", null, true, MklVendorCheckState.NotApplied)]
    [InlineData("AuthenticAMD", "1", true, MklVendorCheckState.NotApplied)]
    public void ActsOnlyOnAmdOnLinuxX64WhenNotTurnedOff(string vendor, string? environment, bool linuxX64, MklVendorCheckState expected)
    {
        Assert.Equal(expected, MklVendorCheck.Decide(vendor, environment, linuxX64).State);
    }

    [Fact]
    public void TheVendorStringIsTwelveCpuidCharacters()
    {
        var vendor = MklVendorCheck.ProcessorVendor();
        if (!X86Base.IsSupported) Assert.Equal("", vendor);
        else Assert.Matches("^[\\x20-\\x7e]{12}$", vendor);
    }
}

using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using IftSharp.Core;

namespace IftSharp.Tests.Build;

/// <summary>
/// Runs IftSharp's native setup when the test assembly is first used, before any test: some tests call TorchSharp
/// before touching IftSharp's own types, and MKL fixes its code path at its first matrix product.
/// </summary>
internal static class TestHostNativeSetup
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "The setup must precede the first libtorch call of any test.")]
    internal static void BeforeAnyTest() => NativeSetup.Initialize();
}

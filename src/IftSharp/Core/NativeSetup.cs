using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Core;

/// <summary>
/// Prepares libtorch once per process before its first computation: loads it, answers MKL's vendor check on AMD
/// processors (<see cref="MklVendorCheck"/>). It runs by itself when IftSharp's assembly is first used (a module initializer); a
/// program that calls TorchSharp before any IftSharp code calls <see cref="Initialize"/> first, because MKL fixes its
/// code path at its first call.
/// </summary>
public static class NativeSetup
{
    private static readonly Lock Gate = new();
    private static bool _initialized;

    /// <summary>The error that kept libtorch from loading at initialisation, if any (it surfaces again at first use).</summary>
    public static string? LoadError { get; private set; }

    /// <summary>
    /// Loads libtorch, applies <see cref="MklVendorCheck"/>; idempotent and thread-safe.
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
        }
    }

    /// <summary>One line describing the native setup.</summary>
    public static string Describe() => $"MKL vendor check: {MklVendorCheck.Detail}";

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "MKL fixes its code path at its first call: the setup must come first.")]
    internal static void InitializeOnFirstUse() => Initialize();
}

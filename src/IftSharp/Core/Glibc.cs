namespace IftSharp.Core;

/// <summary>The C library the native setup calls into (dlopen, dlinfo, mmap, sched_getaffinity).</summary>
internal static class Glibc
{
    /// <summary>
    /// glibc's exact soname. A bare "libc" makes .NET probe "libc.so" first, which is a linker script where libc6-dev
    /// is installed and absent where it is not; the soname needs no probing.
    /// </summary>
    public const string Library = "libc.so.6";
}

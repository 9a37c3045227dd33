using System.Runtime.InteropServices;

namespace IftSharp.Core;

/// <summary>
/// An exclusive operating-system lock on a folder, held until it is disposed or its process ends (the kernel drops
/// the locks of a process that dies, even by kill -9). On Linux it is an <c>flock(2)</c> on the folder itself, so no
/// lock file is left behind and removing the folder cannot race with another run taking it; elsewhere it is a
/// <see cref="FileShare.None"/> lock file, <see cref="FallbackFile"/>, inside the folder.
/// </summary>
public sealed class FolderLock : IDisposable
{
    public const string FallbackFile = ".iftsharp.lock";

    private int _descriptor = -1;
    private FileStream? _file;

    private FolderLock() { }

    /// <summary>The lock on <paramref name="folder"/> (which must exist), or null when another holder has it.</summary>
    public static FolderLock? TryAcquire(string folder)
    {
        if (!OperatingSystem.IsLinux())
        {
            var path = Path.Combine(folder, FallbackFile);
            try { return new FolderLock { _file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None) }; }
            catch (IOException e) when (e.Message.Contains("being used by another process", StringComparison.Ordinal))
            {
                return null;
            }
        }
        int fd = Open(folder, ReadOnly | CloseOnExec); // close-on-exec: child processes (bench workers) must not inherit it
        if (fd < 0) throw new IOException($"{folder}: cannot open the folder to lock it (errno {Marshal.GetLastPInvokeError()})");
        if (Flock(fd, Exclusive | NonBlocking) == 0) return new FolderLock { _descriptor = fd };
        int errno = Marshal.GetLastPInvokeError();
        Close(fd);
        if (errno == WouldBlock) return null;
        throw new IOException($"{folder}: cannot lock the folder (errno {errno})");
    }

    public void Dispose()
    {
        if (_descriptor >= 0) Close(_descriptor); // closing the last descriptor releases the lock
        _descriptor = -1;
        if (_file is not null)
        {
            AtomicFile.TryDelete(_file.Name); // while still holding it
            _file.Dispose();
            _file = null;
        }
    }

    private const int ReadOnly = 0, CloseOnExec = 0x80000; // O_RDONLY, O_CLOEXEC (the same on x86-64 and arm64)
    private const int Exclusive = 2, NonBlocking = 4, WouldBlock = 11; // LOCK_EX, LOCK_NB, EWOULDBLOCK

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static extern int Flock(int fd, int operation);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}

using System.Runtime.InteropServices;

namespace IftSharp.Benchmarking;

/// <summary>
/// The largest count of bytes glibc's malloc has handed out (in use, in every arena and in mmapped chunks), sampled
/// every 2 ms on a thread of its own. Set beside the resident peak, it tells the memory a step really holds from the
/// memory the allocator keeps after it was freed (see <c>Core/LargeAllocations</c>).
/// </summary>
public sealed class AllocatorPeak : IDisposable
{
    private readonly Thread _thread;
    private volatile bool _stop;
    private double _peak;

    public AllocatorPeak()
    {
        _peak = Now();
        _thread = new Thread(() =>
        {
            while (!_stop)
            {
                _peak = Math.Max(_peak, Now());
                Thread.Sleep(2);
            }
        })
        { IsBackground = true, Name = "allocator peak" };
        _thread.Start();
    }

    /// <summary>The peak so far, in MiB.</summary>
    public double Peak => Math.Max(_peak, Now());

    /// <summary>Starts a new peak from what is allocated now.</summary>
    public void Reset() => _peak = Now();

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2 MallInfo();

    /// <summary>Bytes allocated now (uordblks + hblkhd), in MiB; 0 where glibc has no mallinfo2.</summary>
    public static double Now()
    {
        if (!OperatingSystem.IsLinux()) return 0;
        try
        {
            var info = MallInfo();
            return (info.Uordblks + info.Hblkhd) / 1048576.0;
        }
        catch (EntryPointNotFoundException) { return 0; }
        catch (DllNotFoundException) { return 0; }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }
}

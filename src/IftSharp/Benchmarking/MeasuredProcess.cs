using System.Diagnostics;
using System.Globalization;

namespace IftSharp.Benchmarking;

/// <summary>How a measured child process ended: its output, and whether the memory guard stopped it.</summary>
public sealed record MeasuredExit(int ExitCode, string Stdout, string Stderr, double PeakResidentMegabytes, string? StoppedBecause)
{
    /// <summary>The last line of standard output that is a JSON object (what a worker reports), or null.</summary>
    public string? JsonLine => Stdout.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
}

/// <summary>
/// Runs one benchmark configuration in a child process, so its peak resident memory (VmHWM) is its own, under a
/// memory guard: the machine is shared, and a configuration that does not fit must end as a measurement ("over the
/// limit at 20.1 GiB"), not by the kernel's OOM killer choosing some other process to kill. The guard samples the
/// child's resident set and the machine's available memory every 50 ms and kills the child when the first passes
/// <c>limitMegabytes</c> or the second falls under a reserve.
/// </summary>
public static class MeasuredProcess
{
    /// <summary>Memory kept free for everything else on the machine; the child is stopped below it.</summary>
    public const double ReserveMegabytes = 768;

    public static MeasuredExit Run(ProcessStartInfo start, double limitMegabytes)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        double peak = 0;
        string? stopped = null;
        try
        {
            Guard();
        }
        catch
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true); // never leave a measured child behind
            throw;
        }
        process.WaitForExit();
        return new MeasuredExit(process.ExitCode, stdout.Result, stderr.Result, peak, stopped);

        void Guard()
        {
            while (!process.WaitForExit(50))
            {
                double resident = ProcessMemory.Megabytes(process.Id, "VmHWM");
                peak = Math.Max(peak, resident);
                double available = ProcessMemory.AvailableMegabytes();
                if (resident > limitMegabytes)
                    stopped = string.Create(CultureInfo.InvariantCulture, $"over the memory limit of {limitMegabytes / 1024:F1} GiB");
                else if (available is > 0 and < ReserveMegabytes)
                    stopped = string.Create(CultureInfo.InvariantCulture,
                        $"the machine's available memory fell under {ReserveMegabytes:F0} MiB at {resident / 1024:F1} GiB resident");
                if (stopped is null) continue;
                try { process.Kill(entireProcessTree: true); }
                catch (InvalidOperationException) { } // it ended by itself meanwhile
                return;
            }
        }
    }
}

/// <summary>Memory figures of this process, another process and the machine, from /proc (0 where there is none).</summary>
public static class ProcessMemory
{
    /// <summary>A memory line of <c>/proc/PID/status</c> (VmRSS, VmHWM), in MiB.</summary>
    public static double Megabytes(int pid, string field) => StatusField($"/proc/{pid}/status", field);

    /// <summary>A memory line of this process's <c>/proc/self/status</c> (VmRSS, VmHWM), in MiB.</summary>
    public static double Own(string field) => StatusField("/proc/self/status", field);

    /// <summary>The machine's MemAvailable, in MiB.</summary>
    public static double AvailableMegabytes() => StatusField("/proc/meminfo", "MemAvailable");

    private static double StatusField(string path, string field)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
                if (KibibytesOf(line, field) is double kib) return kib / 1024.0;
        }
        catch (IOException) { } // the process has just ended
        catch (UnauthorizedAccessException) { }
        return 0;
    }

    /// <summary>
    /// The value of a <c>/proc</c> line <c>FIELD:\t  123456 kB</c> in KiB, or null for another field. The number is
    /// padded to 8 characters, so past 9.5 GiB no space is left between the tab and it.
    /// </summary>
    public static double? KibibytesOf(string line, string field)
    {
        if (!line.StartsWith(field + ":", StringComparison.Ordinal)) return null;
        var value = line[(field.Length + 1)..].Trim().Split(' ')[0];
        return double.Parse(value, CultureInfo.InvariantCulture);
    }
}

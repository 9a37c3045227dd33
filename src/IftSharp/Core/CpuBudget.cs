using System.Globalization;
using System.Runtime.InteropServices;

namespace IftSharp.Core;

/// <summary>
/// How many cores this process may actually use: the CPUs of its affinity mask (<c>sched_getaffinity</c>, what
/// <c>taskset</c> and container cpusets set), capped by its cgroup's CPU quota (cgroup v2 <c>cpu.max</c>, v1
/// <c>cpu.cfs_quota_us</c>/<c>cpu.cfs_period_us</c>, the tightest along the path to the root) rounded up, as .NET's
/// <see cref="Environment.ProcessorCount"/> rounds it. OpenMP, and with it libtorch, counts only the affinity mask,
/// so in a container limited to 2 CPUs of a 64-core host it would start 64 threads that the quota then throttles.
/// </summary>
public static class CpuBudget
{
    /// <summary>The cores available to this process and how they were found.</summary>
    public static (int Cores, string Reason) Measure()
    {
        int? affinity = AffinityCount();
        double? quota = OperatingSystem.IsLinux()
            ? CgroupQuota(ReadOrNull("/proc/self/cgroup"), ReadOrNull("/proc/self/mountinfo"), ReadOrNull)
            : null;
        return Combine(affinity ?? Environment.ProcessorCount, quota, affinity is null ? "processors" : "CPUs in the affinity mask");
    }

    /// <summary>The core count from an affinity count and a quota in CPUs (null: no quota).</summary>
    public static (int Cores, string Reason) Combine(int affinity, double? quota, string affinityName = "CPUs in the affinity mask")
    {
        if (quota is double q && Math.Ceiling(q - 1e-9) < affinity)
        {
            int cores = Math.Max(1, (int)Math.Ceiling(q - 1e-9));
            return (cores, $"cgroup CPU quota {q.ToString("0.##", CultureInfo.InvariantCulture)} of {affinity} {affinityName}");
        }
        return (Math.Max(1, affinity), $"{affinity} {affinityName}" + (quota is null ? "" : ", within the cgroup CPU quota"));
    }

    /// <summary>
    /// The CPU quota in CPUs of the process's cgroup (the smallest along its path to the hierarchy's root), from the
    /// texts of <c>/proc/self/cgroup</c> and <c>/proc/self/mountinfo</c> and a reader of cgroup files; null without one.
    /// </summary>
    public static double? CgroupQuota(string? procCgroup, string? mountInfo, Func<string, string?> readFile)
    {
        if (procCgroup is null || mountInfo is null) return null;
        double? tightest = null;
        foreach (var line in procCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "hierarchy-id:controller,list:/path"; cgroup v2 is "0::/path"
            var parts = line.Split(':', 3);
            if (parts.Length != 3) continue;
            bool v2 = parts[0] == "0" && parts[1] == "";
            if (!v2 && !parts[1].Split(',').Contains("cpu")) continue;
            var mount = FindMount(mountInfo, v2);
            if (mount is null) continue;
            foreach (var directory in DirectoriesUpToMountRoot(mount.Value.Root, mount.Value.Point, parts[2]))
            {
                double? quota = v2
                    ? ParseCpuMax(readFile(Path.Combine(directory, "cpu.max")))
                    : ParseCfs(readFile(Path.Combine(directory, "cpu.cfs_quota_us")),
                               readFile(Path.Combine(directory, "cpu.cfs_period_us")));
                if (quota is double q && (tightest is null || q < tightest)) tightest = q;
            }
        }
        return tightest;
    }

    /// <summary>cgroup v2's <c>cpu.max</c> ("QUOTA PERIOD" or "max PERIOD") in CPUs; null when unlimited or unreadable.</summary>
    public static double? ParseCpuMax(string? text)
    {
        var fields = text?.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (fields is null || fields.Length < 1 || fields[0] == "max") return null;
        string period = fields.Length > 1 ? fields[1] : "100000";
        return ParseCfs(fields[0], period);
    }

    /// <summary>cgroup v1's quota and period in microseconds, in CPUs; null when the quota is -1 (none) or unreadable.</summary>
    public static double? ParseCfs(string? quotaText, string? periodText)
    {
        long? quota = PositiveInteger(quotaText), period = PositiveInteger(periodText);
        return quota is null || period is null ? null : (double)quota / period;
    }

    private static (string Root, string Point)? FindMount(string mountInfo, bool v2)
    {
        foreach (var line in mountInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "id parent major:minor root mount-point options [optional fields...] - fstype source super-options"
            var separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator < 0) continue;
            var fields = line[..separator].Split(' ');
            var tail = line[(separator + 3)..].Split(' ');
            if (fields.Length < 5 || tail.Length < 1) continue;
            bool matches = v2
                ? tail[0] == "cgroup2"
                : tail[0] == "cgroup" && tail.Length >= 3 && tail[2].Split(',').Contains("cpu");
            if (matches) return (Unescape(fields[3]), Unescape(fields[4]));
        }
        return null;
    }

    private static IEnumerable<string> DirectoriesUpToMountRoot(string mountRoot, string mountPoint, string cgroupPath)
    {
        // Inside a container the mount's root is the container's own cgroup, and /proc/self/cgroup may show the
        // full path from the host's root (or a path outside the mount): keep what lies under the mount's root.
        string relative = cgroupPath;
        if (mountRoot != "/" && relative.StartsWith(mountRoot, StringComparison.Ordinal)) relative = relative[mountRoot.Length..];
        var segments = relative.Split('/', StringSplitOptions.RemoveEmptyEntries).ToList();
        for (int n = segments.Count; n >= 0; n--)
            yield return segments.Take(n).Aggregate(mountPoint, Path.Combine);
    }

    private static long? PositiveInteger(string? text) =>
        long.TryParse(text?.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) && value > 0 ? value : null;

    // mountinfo escapes space, tab, newline and backslash as octal
    private static string Unescape(string field) =>
        field.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static unsafe int? AffinityCount()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            // A mask big enough for 8192 CPUs; the kernel answers EINVAL only for masks smaller than its own.
            var mask = new ulong[128];
            fixed (ulong* bits = mask)
            {
                if (sched_getaffinity(0, (nuint)(mask.Length * sizeof(ulong)), bits) != 0) return null;
            }
            int count = mask.Sum(word => System.Numerics.BitOperations.PopCount(word));
            return count > 0 ? count : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [DllImport(Glibc.Library)]
    private static extern unsafe int sched_getaffinity(int pid, nuint size, ulong* mask);
}

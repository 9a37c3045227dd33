using IftSharp.Core;
using Xunit;

namespace IftSharp.Tests.Core;

public class CpuBudgetTests
{
    // /proc/self/mountinfo lines as the kernel writes them (cgroup v1 hybrid, as on this project's machine, and v2).
    private const string MountInfoV1 =
        "30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw\n" +
        "33 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct\n" +
        "34 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpuset\n";
    private const string CgroupV1 = "4:memory:/user.slice\n3:cpuset:/\n2:cpu,cpuacct:/docker/abc\n0::/docker/abc\n";
    private const string MountInfoV2 =
        "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
    // Inside a container: the mount's root is the container's own cgroup.
    private const string MountInfoV2Container = "700 690 0:26 /kubepods/pod1/c1 /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n";

    [Fact]
    public void CgroupV1QuotaIsQuotaOverPeriodAndTheTightestAlongThePathWins()
    {
        var files = new Dictionary<string, string>
        {
            ["/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us"] = "150000\n",
            ["/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us"] = "100000\n",
            ["/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us"] = "400000\n",
            ["/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us"] = "100000\n",
            ["/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"] = "-1\n",
            ["/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us"] = "100000\n",
        };
        Assert.Equal(1.5, CpuBudget.CgroupQuota(CgroupV1, MountInfoV1, files.GetValueOrDefault));
        files["/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us"] = "100000\n"; // the parent is tighter
        Assert.Equal(1.0, CpuBudget.CgroupQuota(CgroupV1, MountInfoV1, files.GetValueOrDefault));
    }

    [Fact]
    public void CgroupV2ReadsCpuMaxAndMaxMeansNoQuota()
    {
        var files = new Dictionary<string, string>
        {
            ["/sys/fs/cgroup/system.slice/app.service/cpu.max"] = "200000 100000\n",
            ["/sys/fs/cgroup/system.slice/cpu.max"] = "max 100000\n",
        };
        Assert.Equal(2.0, CpuBudget.CgroupQuota("0::/system.slice/app.service\n", MountInfoV2, files.GetValueOrDefault));
        Assert.Null(CpuBudget.CgroupQuota("0::/system.slice\n", MountInfoV2, files.GetValueOrDefault));
        Assert.Null(CpuBudget.CgroupQuota("0::/\n", MountInfoV2, _ => null));
    }

    [Fact]
    public void InsideAContainerThePathIsTakenUnderTheMountsRoot()
    {
        var files = new Dictionary<string, string> { ["/sys/fs/cgroup/cpu.max"] = "50000 100000" };
        Assert.Equal(0.5, CpuBudget.CgroupQuota("0::/kubepods/pod1/c1\n", MountInfoV2Container, files.GetValueOrDefault));
        Assert.Equal(0.5, CpuBudget.CgroupQuota("0::/\n", MountInfoV2Container, files.GetValueOrDefault)); // a namespaced view
    }

    [Fact]
    public void WithoutACpuControllerThereIsNoQuota()
    {
        Assert.Null(CpuBudget.CgroupQuota("4:memory:/x\n", MountInfoV1, _ => "100000"));
        Assert.Null(CpuBudget.CgroupQuota(null, MountInfoV1, _ => "100000"));
    }

    [Theory]
    [InlineData("max 100000", null)]
    [InlineData("max", null)]
    [InlineData("250000 100000", 2.5)]
    [InlineData("100000", 1.0)]
    [InlineData("garbage 100000", null)]
    [InlineData("", null)]
    public void ParsesCpuMax(string text, double? expected) => Assert.Equal(expected, CpuBudget.ParseCpuMax(text));

    [Theory]
    [InlineData(8, null, 8)]
    [InlineData(8, 2.0, 2)]
    [InlineData(8, 1.5, 2)] // rounded up, as .NET's ProcessorCount
    [InlineData(8, 0.2, 1)]
    [InlineData(2, 16.0, 2)] // a quota above the affinity mask changes nothing
    [InlineData(4, 4.0, 4)]
    public void CoresAreTheAffinityCappedByTheQuotaRoundedUp(int affinity, double? quota, int expected)
    {
        Assert.Equal(expected, CpuBudget.Combine(affinity, quota).Cores);
    }

    [Fact]
    public void OnThisMachineTheBudgetIsPositiveAndWithinTheProcessorsAndLibTorchFollowsIt()
    {
        var (cores, reason) = CpuBudget.Measure();
        Assert.InRange(cores, 1, Environment.ProcessorCount);
        Assert.False(string.IsNullOrEmpty(reason));
        if (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is null)
            Assert.Equal(cores, TorchSharp.torch.get_num_threads());
    }
}

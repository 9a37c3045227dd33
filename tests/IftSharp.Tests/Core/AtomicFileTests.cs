using IftSharp.Core;
using IftSharp.Tests.Support;
using Xunit;

namespace IftSharp.Tests.Core;

/// <summary>A write that fails part-way (as on a full disk) keeps the old file whole and leaves no temporary file.</summary>
public class AtomicFileTests
{
    public static IEnumerable<object[]> FailingWrites() =>
    [
        ["stream", (Action<string>)(path => AtomicFile.WriteStream(path, s => { s.Write(new byte[5000]); throw DiskFull(); }))],
        ["named", (Action<string>)(path => AtomicFile.Write(path, temp => { File.WriteAllText(temp, "partial"); throw DiskFull(); }))],
        ["copy from a missing file", (Action<string>)(path => AtomicFile.Copy(path + ".missing-source", path))],
    ];

    /// <summary>What .NET throws on Linux when a write meets ENOSPC.</summary>
    private static IOException DiskFull() => new("No space left on device", 28);

    [Theory]
    [MemberData(nameof(FailingWrites))]
    public void AFailedWriteKeepsTheOldFileAndRemovesItsTemporaryFile(string kind, Action<string> write)
    {
        var dir = Temp.Directory("atomic");
        try
        {
            var path = Path.Combine(dir, "model.safetensors");
            File.WriteAllText(path, "old");
            Assert.ThrowsAny<IOException>(() => write(path));
            Assert.Equal("old", File.ReadAllText(path));
            Assert.True(Directory.GetFiles(dir).Length == 1, $"{kind}: left {string.Join(", ", Directory.GetFiles(dir))}");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void OnARealFullDiskNothingIsLeftAndTheSpaceIsFree()
    {
        using var disk = TmpfsMount.TryMount("size=64k");
        if (disk is null) return; // mounting not allowed here: the failing writers above cover the same path
        var path = Path.Combine(disk.Path, "big.bin");
        Assert.Throws<IOException>(() => AtomicFile.WriteStream(path, s => s.Write(new byte[1 << 20])));
        Assert.Empty(Directory.GetFileSystemEntries(disk.Path));
        AtomicFile.WriteStream(path, s => s.Write(new byte[32 << 10])); // the space the failed write took is back
        Assert.Equal(32 << 10, new FileInfo(path).Length);
    }
}

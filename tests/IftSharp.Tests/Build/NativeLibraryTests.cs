using IftSharp.Build;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Build;

public class NativeLibraryTests
{
    [Fact]
    public void TorchSharpLoadsAndAutogradWorks()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new double[] { 1.5, -2.0, 3.0 }, requires_grad: true);
        var y = (x * x * x).sum(); // dy/dx = 3x²
        y.backward();
        Assert.Equal(new[] { 6.75, 12.0, 27.0 }, x.grad!.data<double>().ToArray());
        var m = matmul(ones(2, 3), ones(3, 4));
        Assert.Equal(3f, m[1, 2].item<float>());
    }

    [Fact]
    public void TheBuildMarkedTheGlibcxxNeedWeakInTheTestOutput()
    {
        var libraries = Directory.GetFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories);
        Assert.NotEmpty(libraries);
        foreach (var library in libraries)
        {
            var image = File.ReadAllBytes(library);
            var outcome = ElfVersionNeedPatcher.Patch(image, new[] { "GLIBCXX_3.4.32" });
            Assert.Empty(outcome.MarkedWeak); // nothing left to patch: the build already did it
            Assert.Equal(new[] { "GLIBCXX_3.4.32" }, outcome.AlreadyWeak);
        }
    }

    [Fact]
    public void PatchSetsOnlyTheWeakFlagOfTheNamedNeedAndIsIdempotent()
    {
        var original = File.ReadAllBytes(OriginalLibraryFromNuGetCache());
        var image = (byte[])original.Clone();
        var first = ElfVersionNeedPatcher.Patch(image, new[] { "GLIBCXX_3.4.32" });
        Assert.Equal(new[] { "GLIBCXX_3.4.32" }, first.MarkedWeak);
        var changed = Enumerable.Range(0, image.Length).Where(i => image[i] != original[i]).ToList();
        Assert.Single(changed); // one byte: the low byte of vna_flags
        Assert.Equal(original[changed[0]] | ElfVersionNeedPatcher.VerFlagWeak, image[changed[0]]);

        var again = (byte[])image.Clone();
        var second = ElfVersionNeedPatcher.Patch(again, new[] { "GLIBCXX_3.4.32" });
        Assert.Empty(second.MarkedWeak);
        Assert.Equal(image, again);

        var absent = (byte[])original.Clone();
        var none = ElfVersionNeedPatcher.Patch(absent, new[] { "GLIBCXX_9.9.99" });
        Assert.Empty(none.Needed);
        Assert.Equal(original, absent);
    }

    [Fact]
    public void PatchRejectsWhatIsNotAnElfFile()
    {
        Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.Patch(new byte[100], new[] { "X" }));
    }

    private static string OriginalLibraryFromNuGetCache()
    {
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                   ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var path = Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(path), $"expected the unpatched library at {path}");
        return path;
    }
}

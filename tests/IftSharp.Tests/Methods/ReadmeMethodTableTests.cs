using IftSharp.Methods;
using Xunit;

namespace IftSharp.Tests.Methods;

/// <summary>The README's table of methods is the registry's: every name, help line, data shape and default.</summary>
public class ReadmeMethodTableTests
{
    [Fact]
    public void TheReadmeTableIsTheRegistrysTable()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IftSharp.slnx"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var readme = File.ReadAllText(Path.Combine(dir!.FullName, "README.md"));
        const string begin = "<!-- methods: generated from MethodRegistry.MarkdownTable() -->\n", end = "<!-- methods: end -->";
        int start = readme.IndexOf(begin, StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no generated method table");
        var table = readme[(start + begin.Length)..readme.IndexOf(end, start, StringComparison.Ordinal)];
        Assert.True(table == MethodRegistry.MarkdownTable(), "README.md's method table differs from the registry's; replace it with:\n"
            + MethodRegistry.MarkdownTable());
    }
}

using Xunit;

namespace IftSharp.Tests.Build;

/// <summary>
/// No source line is longer than .editorconfig's max_line_length (140), counted in characters (Unicode code points, as an
/// editor's column), not bytes or UTF-16 units: C#, Python, shell scripts and MSBuild files under src/, tests/, bench/,
/// build/ and .ci/.
/// </summary>
public class LineLengthTests
{
    public const int MaxLength = 140;

    private static readonly string[] Folders = ["src", "tests", "bench", "build", ".ci"];
    private static readonly string[] Extensions = [".cs", ".py", ".sh", ".targets", ".props", ".csproj"];
    /// <summary>Build output and caches; the test fixtures' data files (.json, .jinja, ...) are left out by extension.</summary>
    private static readonly HashSet<string> SkippedFolders = new(StringComparer.Ordinal) { "bin", "obj", "__pycache__" };

    /// <summary>The 1-based numbers and lengths (in code points) of the lines longer than <paramref name="max"/>.</summary>
    public static List<(int Line, int Length)> LongLines(IEnumerable<string> lines, int max = MaxLength)
    {
        var result = new List<(int, int)>();
        int number = 0;
        foreach (var line in lines)
        {
            number++;
            if (line.Length <= max) continue; // a code point is one or two UTF-16 units: never more code points than units
            int length = line.EnumerateRunes().Count();
            if (length > max) result.Add((number, length));
        }
        return result;
    }

    /// <summary>The checked files under <paramref name="root"/>; extensionless scripts in .ci/ (a #! first line) too.</summary>
    public static List<string> SourceFiles(string root)
    {
        var files = new List<string>();
        foreach (var folder in Folders)
        {
            var top = Path.Combine(root, folder);
            if (Directory.Exists(top)) Collect(new DirectoryInfo(top), folder == ".ci", files);
        }
        return files;
    }

    private static void Collect(DirectoryInfo dir, bool scripts, List<string> files)
    {
        foreach (var file in dir.EnumerateFiles())
        {
            bool script = scripts && file.Extension.Length == 0 && File.ReadLines(file.FullName).FirstOrDefault() is { } first
                && first.StartsWith("#!", StringComparison.Ordinal);
            if (script || Extensions.Contains(file.Extension, StringComparer.Ordinal)) files.Add(file.FullName);
        }
        foreach (var sub in dir.EnumerateDirectories())
            if (!SkippedFolders.Contains(sub.Name)) Collect(sub, scripts, files);
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IftSharp.slnx"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return dir!.FullName;
    }

    [Fact]
    public void EveryLineFitsIn140Characters()
    {
        var root = RepositoryRoot();
        var files = SourceFiles(root);
        Assert.Contains(files, f => f.EndsWith(Path.Combine("Build", "LineLengthTests.cs"), StringComparison.Ordinal));
        var found = files
            .SelectMany(f => LongLines(File.ReadLines(f))
                .Select(l => $"{Path.GetRelativePath(root, f).Replace('\\', '/')}:{l.Line} ({l.Length} chars)"))
            .ToList();
        Assert.True(found.Count == 0, $"{found.Count} lines over {MaxLength} characters:\n" + string.Join("\n", found));
    }

    [Fact]
    public void LongLinesFindsExactlyTheLinesOver140Characters()
    {
        string[] lines = [new string('a', 140), new string('b', 141), "", new string('c', 200)];
        Assert.Equal(new[] { (2, 141), (4, 200) }, LongLines(lines));
    }

    [Fact]
    public void LongLinesCountsCharactersNotBytesOrUtf16Units()
    {
        // 140 'é' are 280 bytes of UTF-8 and 140 '𝑥' (outside the BMP) 280 UTF-16 units: each is 140 characters, not long.
        string[] lines = [new string('é', 140), string.Concat(Enumerable.Repeat("𝑥", 140)), string.Concat(Enumerable.Repeat("𝑥", 141))];
        Assert.Equal(new[] { (3, 141) }, LongLines(lines));
    }
}

namespace IftSharp.Tests.Support;

/// <summary>Dataset files for tests: the given lines in a fresh temporary .jsonl file.</summary>
public static class TempJsonl
{
    public static string Write(params string[] lines)
    {
        var path = Path.Combine(Path.GetTempPath(), "iftsharp-data-" + Guid.NewGuid().ToString("N") + ".jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }
}

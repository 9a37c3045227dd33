namespace IftSharp.Tests.Support;

/// <summary>Fresh temporary folders for tests (the caller deletes them).</summary>
public static class Temp
{
    public static string Directory(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), $"iftsharp-{prefix}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(path);
        return path;
    }
}

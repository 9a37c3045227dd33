namespace IftSharp.Core;

/// <summary>Writes a file through a temporary file in the same folder, renamed into place, so a reader never sees half of it.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string contents)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, contents);
        File.Move(temp, path, overwrite: true);
    }
}

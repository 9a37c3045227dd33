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

    /// <summary>Lets <paramref name="write"/> create the file under a temporary name with the same extension (plot libraries pick the format from it), then renames it into place.</summary>
    public static void Write(string path, Action<string> write)
    {
        var temp = Path.ChangeExtension(path, ".tmp" + Path.GetExtension(path));
        write(temp);
        File.Move(temp, path, overwrite: true);
    }
}

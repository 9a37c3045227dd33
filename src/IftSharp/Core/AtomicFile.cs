namespace IftSharp.Core;

/// <summary>
/// Writes a file through a temporary file in the same folder, renamed into place, so a reader never sees half of it.
/// A write that fails (a full disk, a permission) removes its temporary file: nothing half-written is left behind.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string contents) => Commit(path + ".tmp", path, temp => File.WriteAllText(temp, contents));

    /// <summary>
    /// Lets <paramref name="write"/> create the file under a temporary name with the same extension (plot libraries
    /// pick the format from it), then renames it into place.
    /// </summary>
    public static void Write(string path, Action<string> write) =>
        Commit(Path.ChangeExtension(path, ".tmp" + Path.GetExtension(path)), path, write);

    /// <summary>Lets <paramref name="write"/> fill a stream on <c>PATH.tmp</c>, then renames it into place.</summary>
    public static void WriteStream(string path, Action<Stream> write, int bufferSize = 1 << 20) => Commit(path + ".tmp", path, temp =>
    {
        using var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize);
        write(stream);
    });

    /// <summary>Copies a file into place the same way.</summary>
    public static void Copy(string source, string path) => Commit(path + ".tmp", path, temp => File.Copy(source, temp, overwrite: true));

    private static void Commit(string temp, string path, Action<string> write)
    {
        try
        {
            write(temp);
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Removes a file if it is there; a failure to remove it must not hide the error being reported.</summary>
    public static void TryDelete(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

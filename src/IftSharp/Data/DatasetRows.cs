using System.Text;
using System.Text.Json;
using IftSharp.Core;
using Parquet.Serialization;

namespace IftSharp.Data;

/// <summary>
/// The rows of a dataset file as JSON objects with their 1-based line (JSONL) or row (Parquet) number: JSONL by default,
/// Parquet when the name ends in <c>.parquet</c> (columns become fields; nested lists of structs, like <c>messages</c>,
/// become arrays of objects), so every dataset shape is parsed by one code path. A missing file, a directory, a malformed
/// line, a line that is not a JSON object, invalid UTF-8 (unless allowed) or an unreadable Parquet file is an
/// <see cref="InputException"/>.
/// </summary>
public static class DatasetRows
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly UTF8Encoding Lenient = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    /// <param name="allowInvalidUtf8">Replace invalid UTF-8 in a JSONL line with U+FFFD instead of stopping there.</param>
    public static IEnumerable<(int Line, JsonElement Row)> Read(string path, bool allowInvalidUtf8 = false)
    {
        if (Directory.Exists(path)) throw new InputException($"{path}: is a directory; expected a JSONL file (or a .parquet file)");
        if (!File.Exists(path)) throw new InputException($"{path}: file not found");
        return path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) ? ReadParquet(path) : ReadJsonl(path, allowInvalidUtf8);
    }

    private static IEnumerable<(int Line, JsonElement Row)> ReadJsonl(string path, bool allowInvalidUtf8)
    {
        int line = 0;
        foreach (var bytes in Lines(path))
        {
            line++;
            string text;
            try { text = (allowInvalidUtf8 ? Lenient : Strict).GetString(bytes); }
            catch (DecoderFallbackException e)
            {
                int at = e.Index >= 0 ? e.Index : 0;
                throw InputException.At(path, line, null,
                    $"invalid UTF-8 (byte 0x{(at < bytes.Length ? bytes[at] : 0):X2} at byte {at + 1} of the line); " +
                    "expected UTF-8 text (allow it with --allow-invalid-utf8, which replaces such bytes with U+FFFD)");
            }
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonElement row;
            try { row = JsonDocument.Parse(text).RootElement; }
            catch (JsonException e) { throw InputException.At(path, line, null, $"malformed JSON ({e.Message})"); }
            if (row.ValueKind != JsonValueKind.Object)
                throw InputException.At(path, line, null, $"expected a JSON object; got {DatasetMessages.Kind(row)}");
            yield return (line, row);
        }
    }

    /// <summary>The file's lines as bytes: split at '\n', a '\r' before it dropped, a UTF-8 byte-order mark skipped.</summary>
    private static IEnumerable<byte[]> Lines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var current = new MemoryStream();
        var buffer = new byte[1 << 16];
        bool first = true;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            int start = 0;
            if (first && read >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF) start = 3;
            first = false;
            for (int i = start; i < read; i++)
            {
                if (buffer[i] != (byte)'\n') continue;
                current.Write(buffer, start, i - start);
                yield return LineBytes(current);
                current.SetLength(0);
                start = i + 1;
            }
            current.Write(buffer, start, read - start);
        }
        if (current.Length > 0) yield return LineBytes(current);
    }

    private static byte[] LineBytes(MemoryStream line)
    {
        var bytes = line.ToArray();
        return bytes.Length > 0 && bytes[^1] == (byte)'\r' ? bytes[..^1] : bytes;
    }

    private static IEnumerable<(int Line, JsonElement Row)> ReadParquet(string path)
    {
        IList<Dictionary<string, object>> data;
        try
        {
            using var stream = File.OpenRead(path);
            data = ParquetSerializer.DeserializeUntypedAsync(stream).GetAwaiter().GetResult().Data;
        }
        catch (Exception e) when (e is not InputException)
        {
            throw new InputException($"{path}: not a readable Parquet file ({e.Message})", e);
        }
        for (int i = 0; i < data.Count; i++)
            yield return (i + 1, JsonSerializer.SerializeToElement(data[i]));
    }
}

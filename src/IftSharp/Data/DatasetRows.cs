using System.Text.Json;
using IftSharp.Core;
using Parquet.Serialization;

namespace IftSharp.Data;

/// <summary>
/// The rows of a dataset file as JSON objects with their 1-based line (JSONL) or row (Parquet) number: JSONL by default,
/// Parquet when the name ends in <c>.parquet</c> (columns become fields; nested lists of structs, like <c>messages</c>,
/// become arrays of objects), so every dataset shape is parsed by one code path. A missing file, a malformed line or an
/// unreadable Parquet file is an <see cref="InputException"/>.
/// </summary>
public static class DatasetRows
{
    public static IEnumerable<(int Line, JsonElement Row)> Read(string path)
    {
        if (!File.Exists(path)) throw new InputException($"{path}: file not found");
        return path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) ? ReadParquet(path) : ReadJsonl(path);
    }

    private static IEnumerable<(int Line, JsonElement Row)> ReadJsonl(string path)
    {
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonElement row;
            try { row = JsonDocument.Parse(text).RootElement; }
            catch (JsonException e) { throw InputException.At(path, line, null, $"malformed JSON ({e.Message})"); }
            yield return (line, row);
        }
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

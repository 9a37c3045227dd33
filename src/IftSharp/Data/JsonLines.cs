using System.Text.Json;
using IftSharp.Core;

namespace IftSharp.Data;

/// <summary>Reads a JSONL file object by object, with the 1-based line number; a missing file or a malformed line is an <see cref="InputException"/>.</summary>
public static class JsonLines
{
    public static IEnumerable<(int Line, JsonElement Row)> Read(string path)
    {
        if (!File.Exists(path)) throw new InputException($"{path}: file not found");
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
}

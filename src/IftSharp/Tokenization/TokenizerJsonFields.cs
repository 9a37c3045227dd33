using System.Text.Json;
using System.Text.RegularExpressions;
using IftSharp.Core;

namespace IftSharp.Tokenization;

/// <summary>
/// Reads the fields of a <c>tokenizer.json</c> step; a missing or mistyped field is an error naming the file and the field.
/// </summary>
internal static class TokenizerJsonFields
{
    public static string TypeOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()!
            : "";

    public static bool IsAbsent(JsonElement e, string name) =>
        e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null;

    public static JsonElement Required(JsonElement e, string name, string path, string field) =>
        !IsAbsent(e, name) ? e.GetProperty(name) : throw InputException.At(path, null, $"{field}.{name}", "missing");

    public static string String(JsonElement e, string name, string path, string field, string? fallback = null)
    {
        if (IsAbsent(e, name))
            return fallback ?? throw InputException.At(path, null, $"{field}.{name}", "missing; expected a string");
        var v = e.GetProperty(name);
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw InputException.At(path, null, $"{field}.{name}",
            "expected a string");
    }

    public static bool Bool(JsonElement e, string name, string path, string field, bool fallback)
    {
        if (IsAbsent(e, name)) return fallback;
        var v = e.GetProperty(name);
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw InputException.At(path, null, $"{field}.{name}", "expected true or false"),
        };
    }

    public static int Int(JsonElement e, string name, string path, string field, int fallback)
    {
        if (IsAbsent(e, name)) return fallback;
        var v = e.GetProperty(name);
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) && i >= 0 ? i
            : throw InputException.At(path, null, $"{field}.{name}", "expected a non-negative integer");
    }

    /// <summary>
    /// A <c>{"String": ...}</c> or <c>{"Regex": ...}</c> pattern (Split, Replace) as a code-point regex; a string is matched literally.
    /// </summary>
    public static CodePointRegex Pattern(JsonElement e, string path, string field)
    {
        var p = Required(e, "pattern", path, field);
        string source;
        if (!IsAbsent(p, "String")) source = Regex.Escape(String(p, "String", path, $"{field}.pattern"));
        else if (!IsAbsent(p, "Regex")) source = String(p, "Regex", path, $"{field}.pattern");
        else throw InputException.At(path, null, $"{field}.pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
        if (source.Any(char.IsSurrogate))
            throw InputException.At(path, null, $"{field}.pattern",
                "a pattern with characters outside the Basic Multilingual Plane is not supported");
        try { return new CodePointRegex(new Regex(source, RegexOptions.CultureInvariant)); }
        catch (ArgumentException x) { throw InputException.At(path, null, $"{field}.pattern", $"not a regex .NET can run ({x.Message})"); }
    }

    public static InputException Unsupported(string path, string field, string value, string expected) =>
        InputException.At(path, null, field, $"'{value}' is not supported; expected {expected}");
}

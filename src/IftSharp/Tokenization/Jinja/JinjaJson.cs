using System.Text;

namespace IftSharp.Tokenization.Jinja;

/// <summary>
/// transformers' tojson filter: Python's json.dumps(x, ensure_ascii, indent, separators, sort_keys) — not Jinja's own
/// tojson, which HTML-escapes. Output must match Python byte for byte (spacing, escapes, float repr, key order).
/// </summary>
internal static class JinjaJson
{
    public static string Dumps(object? value, bool ensureAscii, object? indent, object? separators, bool sortKeys)
    {
        string? indentText = indent switch
        {
            null => null,
            string s => s,
            Markup m => m.Text,
            _ => new string(' ', (int)Math.Max(0, Py.ToLong(indent))),
        };
        string itemSep = indentText is null ? ", " : ",", keySep = ": ";
        if (separators is not null)
        {
            var parts = Py.Iterate(separators);
            if (parts.Count != 2 || parts[0] is not string a || parts[1] is not string b)
                throw new JinjaRuntimeException("tojson: separators must be a pair of strings");
            (itemSep, keySep) = (a, b);
        }
        var sb = new StringBuilder();
        Write(sb, value, 0);
        return sb.ToString();

        void NewLine(int level)
        {
            if (indentText is null) return;
            sb.Append('\n');
            for (int i = 0; i < level; i++) sb.Append(indentText);
        }

        void Write(StringBuilder o, object? v, int level)
        {
            switch (v)
            {
                case null: o.Append("null"); break;
                case bool b: o.Append(b ? "true" : "false"); break;
                case long l: o.Append(l); break;
                case double d:
                    o.Append(double.IsNaN(d) ? "NaN"
                        : double.IsPositiveInfinity(d) ? "Infinity"
                        : double.IsNegativeInfinity(d) ? "-Infinity"
                        : Py.FloatRepr(d));
                    break;
                case string s: WriteString(o, s, ensureAscii); break;
                case Markup m: WriteString(o, m.Text, ensureAscii); break;
                case List<object?> or PyTuple:
                {
                    var items = Py.Iterate(v);
                    if (items.Count == 0) { o.Append("[]"); break; }
                    o.Append('[');
                    for (int i = 0; i < items.Count; i++)
                    {
                        if (i > 0) o.Append(itemSep);
                        NewLine(level + 1);
                        Write(o, items[i], level + 1);
                    }
                    NewLine(level);
                    o.Append(']');
                    break;
                }
                case PyDict d:
                {
                    if (d.Count == 0) { o.Append("{}"); break; }
                    var pairs = d.Select(kv => (Key: KeyString(kv.Key), kv.Value)).ToList();
                    if (sortKeys)
                    {
                        if (d.Keys.Any(k => k is not string))
                            throw new JinjaRuntimeException("tojson: sort_keys with non-string keys is not supported");
                        pairs = pairs.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
                    }
                    o.Append('{');
                    for (int i = 0; i < pairs.Count; i++)
                    {
                        if (i > 0) o.Append(itemSep);
                        NewLine(level + 1);
                        WriteString(o, pairs[i].Key, ensureAscii);
                        o.Append(keySep);
                        Write(o, pairs[i].Value, level + 1);
                    }
                    NewLine(level);
                    o.Append('}');
                    break;
                }
                default:
                    throw new JinjaRuntimeException($"Object of type {Py.TypeName(v)} is not JSON serializable");
            }
        }
    }

    private static string KeyString(object key) => key switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
        double d => Py.FloatRepr(d),
        _ => throw new JinjaRuntimeException($"keys must be str, int, float, bool or None, not {Py.TypeName(key)}"),
    };

    private static void WriteString(StringBuilder o, string s, bool ensureAscii)
    {
        o.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': o.Append("\\\""); break;
                case '\\': o.Append("\\\\"); break;
                case '\n': o.Append("\\n"); break;
                case '\r': o.Append("\\r"); break;
                case '\t': o.Append("\\t"); break;
                case '\b': o.Append("\\b"); break;
                case '\f': o.Append("\\f"); break;
                default:
                    // UTF-16 units are exactly the \uXXXX escapes (surrogate pairs included) Python writes
                    if (c < 0x20 || ensureAscii && c > 0x7e) o.Append("\\u").Append(((int)c).ToString("x4"));
                    else o.Append(c);
                    break;
            }
        }
        o.Append('"');
    }
}

using System.Globalization;
using System.Text;
using IftSharp.Core;

namespace IftSharp.Tokenization.Jinja;

/// <summary>Template errors: syntax and unsupported constructs at load, type errors at render; all are bad input.</summary>
internal static class JinjaError
{
    public static InputException Syntax(int line, string problem) => new($"chat template line {line}: {problem}");

    public static InputException Unsupported(int line, string construct) =>
        new($"chat template line {line}: {construct} is not supported by IftSharp's Jinja interpreter");
}

/// <summary>A run-time error without a line yet; the statement that evaluated the expression adds it.</summary>
internal sealed class JinjaRuntimeException(string message) : Exception(message);

/// <summary>Jinja's default Undefined: renders empty, is falsy and iterates empty, but most other uses raise.</summary>
internal sealed class Undefined(string hint)
{
    public string Hint { get; } = hint;
    public JinjaRuntimeException Error() => new(Hint);
}

/// <summary>A Python tuple (prints and compares unlike a list).</summary>
internal sealed class PyTuple(List<object?> items)
{
    public List<object?> Items { get; } = items;
}

/// <summary>An insertion-ordered Python dict whose keys compare as Python's do (1 == 1.0 == True).</summary>
internal sealed class PyDict() : Dictionary<object, object?>(PyKeyComparer.Instance)
{
    private sealed class PyKeyComparer : IEqualityComparer<object>
    {
        public static readonly PyKeyComparer Instance = new();
        public new bool Equals(object? x, object? y) => Py.Eq(x, y);
        public int GetHashCode(object o) => o switch
        {
            bool b => b ? 1 : 0,
            long l => l.GetHashCode(),
            double d when d == Math.Floor(d) && Math.Abs(d) < 9e18 => ((long)d).GetHashCode(),
            Markup m => m.Text.GetHashCode(),
            PyTuple t => t.Items.Count,
            _ => o.GetHashCode(),
        };
    }
}

/// <summary>The object <c>namespace()</c> makes: the one thing a template may assign attributes on.</summary>
internal sealed class Namespace
{
    public Dictionary<string, object?> Attributes { get; } = [];
}

/// <summary>A string marked safe by <c>|safe</c>; with autoescape off it still HTML-escapes what is added to it.</summary>
internal sealed class Markup(string text)
{
    public string Text { get; } = text;
}

/// <summary>Python iterables that are not lists: generators and iterators (no length, always truthy), dict views, range.</summary>
internal sealed class PyIterable(string kind, List<object?> items, string? repr = null)
{
    public string Kind { get; } = kind; // "generator", "iterator", "dict_keys", "dict_values", "dict_items", "range"
    public List<object?> Items { get; } = items;
    public string? Repr { get; } = repr;
    public bool HasLength => Kind is not ("generator" or "iterator");
}

internal delegate object? JinjaFunction(List<object?> args, List<(string Name, object? Value)> kwargs);

/// <summary>Something a template can call: a global, a macro, or a bound method of a value.</summary>
internal sealed class Callable(string name, JinjaFunction function)
{
    public string Name { get; } = name;
    public JinjaFunction Function { get; } = function;
}

/// <summary>The <c>loop</c> variable of a for loop.</summary>
internal sealed class LoopContext(List<object?> items)
{
    public List<object?> Items { get; } = items;
    public int Index0 { get; set; }

    public object? Get(string name) => name switch
    {
        "index" => (long)Index0 + 1,
        "index0" => (long)Index0,
        "revindex" => (long)(Items.Count - Index0),
        "revindex0" => (long)(Items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == Items.Count - 1,
        "length" => (long)Items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? Items[Index0 - 1] : new Undefined("there is no previous item"),
        "nextitem" => Index0 + 1 < Items.Count ? Items[Index0 + 1] : new Undefined("there is no next item"),
        "cycle" => new Callable("loop.cycle", (args, _) =>
            args.Count == 0 ? throw new JinjaRuntimeException("no items for cycling given") : args[Index0 % args.Count]),
        _ => new Undefined($"'LoopContext' object has no attribute '{name}'"),
    };
}

/// <summary>Python semantics the templates rely on: truthiness, str/repr, equality, ordering, code-point strings.</summary>
internal static class Py
{
    /// <summary>Python's str.isspace for one UTF-16 unit (includes the \x1c-\x1f separators .NET does not count).</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static string Strip(string s, string? chars = null) => RStrip(LStrip(s, chars), chars);

    public static string LStrip(string s, string? chars = null)
    {
        int i = 0;
        while (i < s.Length && (chars is null ? IsSpace(s[i]) : chars.Contains(s[i]))) i++;
        return s[i..];
    }

    public static string RStrip(string s, string? chars = null)
    {
        int i = s.Length;
        while (i > 0 && (chars is null ? IsSpace(s[i - 1]) : chars.Contains(s[i - 1]))) i--;
        return s[..i];
    }

    /// <summary>Python's str.upper: full case mapping, so "ß" becomes "SS" and ligatures split (.NET maps one to one).</summary>
    public static string Upper(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
            sb.Append(c switch
            {
                '\u00df' => "SS",
                '\ufb00' => "FF",
                '\ufb01' => "FI",
                '\ufb02' => "FL",
                '\ufb03' => "FFI",
                '\ufb04' => "FFL",
                '\ufb05' or '\ufb06' => "ST",
                '\u0149' => "\u02bcN",
                _ => c.ToString(),
            });
        return sb.ToString().ToUpperInvariant();
    }

    /// <summary>Python's str.lower (its one multi-character mapping is the dotted capital I).</summary>
    public static string Lower(string s) => s.Replace("\u0130", "i\u0307").ToLowerInvariant();

    /// <summary>Python's str.islower / str.isupper: at least one cased character, and none of the other case.</summary>
    public static bool IsCase(string s, bool lower)
    {
        bool cased = false;
        foreach (var r in s.EnumerateRunes())
        {
            var cat = Rune.GetUnicodeCategory(r);
            if (cat == UnicodeCategory.LowercaseLetter) { if (!lower) return false; cased = true; }
            else if (cat is UnicodeCategory.UppercaseLetter or UnicodeCategory.TitlecaseLetter) { if (lower) return false; cased = true; }
        }
        return cased;
    }

    /// <summary>A string as Python sees it: a sequence of code points.</summary>
    public static List<string> CodePoints(string s)
    {
        var list = new List<string>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { list.Add(s.Substring(i, 2)); i++; }
            else list.Add(s[i].ToString());
        }
        return list;
    }

    public static int Length(string s)
    {
        int n = 0;
        for (int i = 0; i < s.Length; i++, n++)
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
        return n;
    }

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        Markup m => m.Text.Length > 0,
        List<object?> l => l.Count > 0,
        PyTuple t => t.Items.Count > 0,
        PyDict d => d.Count > 0,
        PyIterable it => !it.HasLength || it.Items.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? v) => v is bool or long or double;

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        Markup => "Markup",
        List<object?> => "list",
        PyTuple => "tuple",
        PyDict => "dict",
        Namespace => "Namespace",
        PyIterable it => it.Kind,
        Callable => "function",
        LoopContext => "LoopContext",
        _ => v.GetType().Name,
    };

    /// <summary>Python's str(): what <c>{{ }}</c> prints.</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Markup m => m.Text,
        Undefined => "",
        PyIterable { HasLength: false } it =>
            throw new JinjaRuntimeException($"printing a {it.Kind} object is not supported (Python prints its memory address)"),
        Callable c => throw new JinjaRuntimeException($"printing the function '{c.Name}' is not supported"),
        LoopContext => throw new JinjaRuntimeException("printing the loop object is not supported"),
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        switch (v)
        {
            case null: return "None";
            case Undefined: return "Undefined";
            case bool b: return b ? "True" : "False";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return FloatRepr(d);
            case string s: return StrRepr(s);
            case Markup m: return "Markup(" + StrRepr(m.Text) + ")";
            case List<object?> list: return "[" + string.Join(", ", list.Select(Repr)) + "]";
            case PyTuple t: return "(" + string.Join(", ", t.Items.Select(Repr)) + (t.Items.Count == 1 ? ",)" : ")");
            case PyDict d: return "{" + string.Join(", ", d.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case Namespace ns:
                return "<Namespace {" + string.Join(", ", ns.Attributes.Select(kv => StrRepr(kv.Key) + ": " + Repr(kv.Value))) + "}>";
            case PyIterable { HasLength: true } it:
                return it.Repr ?? it.Kind + "([" + string.Join(", ", it.Items.Select(Repr)) + "])";
            default: return Str(v);
        }
    }

    public static string StrRepr(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder().Append(quote);
        foreach (var r in s.EnumerateRunes())
        {
            int c = r.Value;
            if (c == quote || c == '\\') sb.Append('\\').Append((char)c);
            else if (c == '\t') sb.Append("\\t");
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else if (c == ' ' || IsPrintable(r)) sb.Append(r.ToString());
            else if (c < 0x100) sb.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            else if (c < 0x10000) sb.Append("\\u").Append(c.ToString("x4", CultureInfo.InvariantCulture));
            else sb.Append("\\U").Append(c.ToString("x8", CultureInfo.InvariantCulture));
        }
        return sb.Append(quote).ToString();
    }

    private static bool IsPrintable(Rune r) => Rune.GetUnicodeCategory(r) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.SpaceSeparator => false,
        _ => true,
    };

    /// <summary>Python's repr of a float: shortest round-trip digits, positional for 1e-4 &lt;= |x| &lt; 1e16.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int exp = 0;
        int e = r.IndexOfAny(['E', 'e']);
        if (e >= 0) { exp = int.Parse(r[(e + 1)..], CultureInfo.InvariantCulture); r = r[..e]; }
        int dot = r.IndexOf('.');
        string digits = dot < 0 ? r : r.Remove(dot, 1);
        int decpt = (dot < 0 ? r.Length : dot) + exp; // value = 0.digits * 10^decpt
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') lead++;
        digits = digits[lead..];
        decpt -= lead;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        string sign = d < 0 ? "-" : "";
        if (decpt > -4 && decpt <= 16)
        {
            if (decpt <= 0) return sign + "0." + new string('0', -decpt) + digits;
            if (decpt >= digits.Length) return sign + digits + new string('0', decpt - digits.Length) + ".0";
            return sign + digits[..decpt] + "." + digits[decpt..];
        }
        int x = decpt - 1;
        return sign + digits[0] + (digits.Length > 1 ? "." + digits[1..] : "")
               + "e" + (x < 0 ? "-" : "+") + Math.Abs(x).ToString("00", CultureInfo.InvariantCulture);
    }

    public static double ToDouble(object? v) => v switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        double d => d,
        _ => throw new JinjaRuntimeException($"expected a number, got {TypeName(v)}"),
    };

    public static long ToLong(object? v) => v switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        _ => throw new JinjaRuntimeException($"expected an integer, got {TypeName(v)}"),
    };

    public static bool Eq(object? a, object? b)
    {
        if (a is Markup ma) a = ma.Text;
        if (b is Markup mb) b = mb.Text;
        switch (a)
        {
            case null: return b is null;
            case Undefined: return b is Undefined;
            case string sa: return b is string sb && sa == sb;
            case bool or long or double when IsNumber(b):
                if (a is double || b is double) return ToDouble(a) == ToDouble(b);
                return ToLong(a) == ToLong(b);
            case List<object?> la: return b is List<object?> lb && SeqEq(la, lb);
            case PyTuple ta: return b is PyTuple tb && SeqEq(ta.Items, tb.Items);
            case PyDict da:
                return b is PyDict db && da.Count == db.Count && da.All(kv => db.TryGetValue(kv.Key, out var v) && Eq(kv.Value, v));
            case PyIterable { Kind: "range" } ia: return b is PyIterable { Kind: "range" } ib && SeqEq(ia.Items, ib.Items);
            default: return ReferenceEquals(a, b);
        }
    }

    private static bool SeqEq(List<object?> a, List<object?> b) => a.Count == b.Count && a.Zip(b).All(p => Eq(p.First, p.Second));

    /// <summary>Python's ordering for the types that have one; anything else is a TypeError.</summary>
    public static int Compare(object? a, object? b)
    {
        if (a is Markup ma) a = ma.Text;
        if (b is Markup mb) b = mb.Text;
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? ToDouble(a).CompareTo(ToDouble(b)) : ToLong(a).CompareTo(ToLong(b));
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb);
        if (a is List<object?> la && b is List<object?> lb) return CompareSeq(la, lb);
        if (a is PyTuple ta && b is PyTuple tb) return CompareSeq(ta.Items, tb.Items);
        if (a is Undefined ua) throw ua.Error();
        if (b is Undefined ub) throw ub.Error();
        throw new JinjaRuntimeException($"'<' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    private static int CompareSeq(List<object?> a, List<object?> b)
    {
        for (int i = 0; i < Math.Min(a.Count, b.Count); i++)
            if (!Eq(a[i], b[i])) return Compare(a[i], b[i]);
        return a.Count.CompareTo(b.Count);
    }

    /// <summary>What a for loop or list() sees when iterating a value.</summary>
    public static List<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        PyTuple t => t.Items,
        string s => CodePoints(s).Cast<object?>().ToList(),
        Markup m => CodePoints(m.Text).Cast<object?>().ToList(),
        PyDict d => d.Keys.Cast<object?>().ToList(),
        PyIterable it => it.Items,
        Undefined => [],
        _ => throw new JinjaRuntimeException($"'{TypeName(v)}' object is not iterable"),
    };

    /// <summary>Python's <c>len()</c>.</summary>
    public static long Len(object? v) => v switch
    {
        string s => Length(s),
        Markup m => Length(m.Text),
        List<object?> l => l.Count,
        PyTuple t => t.Items.Count,
        PyDict d => d.Count,
        PyIterable { HasLength: true } it => it.Items.Count,
        Undefined => 0,
        _ => throw new JinjaRuntimeException($"object of type '{TypeName(v)}' has no len()"),
    };

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string or Markup:
                var hay = container is Markup m ? m.Text : (string)container;
                if (item is Markup mi) item = mi.Text;
                if (item is not string needle)
                    throw new JinjaRuntimeException($"'in <string>' requires string as left operand, not {TypeName(item)}");
                return hay.Contains(needle, StringComparison.Ordinal);
            case PyDict d:
                return item is not null && item is not Undefined && d.ContainsKey(item is Markup mk ? mk.Text : item);
            default:
                return Iterate(container).Any(x => Eq(x, item));
        }
    }

    /// <summary>Python's slice.indices: the positions a[start:stop:step] selects.</summary>
    public static IEnumerable<int> SliceIndices(int length, long? start, long? stop, long? step)
    {
        long st = step ?? 1;
        if (st == 0) throw new JinjaRuntimeException("slice step cannot be zero");
        if (st > 0)
        {
            long lo = start is null ? 0 : start < 0 ? Math.Max(0, start.Value + length) : Math.Min(start.Value, length);
            long hi = stop is null ? length : stop < 0 ? Math.Max(0, stop.Value + length) : Math.Min(stop.Value, length);
            for (long i = lo; i < hi; i += st) yield return (int)i;
        }
        else
        {
            long lo = start is null ? length - 1 : start < 0 ? Math.Max(-1, start.Value + length) : Math.Min(start.Value, length - 1);
            long hi = stop is null ? -1 : stop < 0 ? Math.Max(-1, stop.Value + length) : Math.Min(stop.Value, length - 1);
            for (long i = lo; i > hi; i += st) yield return (int)i;
        }
    }

    /// <summary>Values coming from C# (messages, extra context, JSON) as template values.</summary>
    public static object? FromClr(object? v) => v switch
    {
        null => null,
        string or bool or long or double or PyDict or PyTuple or Markup => v,
        int i => (long)i,
        float f => (double)f,
        decimal m => (double)m,
        System.Text.Json.JsonElement e => FromJson(e),
        IReadOnlyDictionary<string, object?> d => ToDict(d.Select(kv => (kv.Key, kv.Value))),
        System.Collections.IDictionary d => ToDict(d.Keys.Cast<object>().Select(k => (k.ToString()!, d[k]))),
        System.Collections.IEnumerable list => list.Cast<object?>().Select(FromClr).ToList(),
        _ => throw new InputException($"chat template: values of type {v.GetType().Name} cannot be passed to a template"),
    };

    private static PyDict ToDict(IEnumerable<(string Key, object? Value)> pairs)
    {
        var d = new PyDict();
        foreach (var (k, val) in pairs) d[k] = FromClr(val);
        return d;
    }

    public static object? FromJson(System.Text.Json.JsonElement e) => e.ValueKind switch
    {
        System.Text.Json.JsonValueKind.String => e.GetString(),
        System.Text.Json.JsonValueKind.Number => e.TryGetInt64(out long l) ? (object)l : e.GetDouble(),
        System.Text.Json.JsonValueKind.True => true,
        System.Text.Json.JsonValueKind.False => false,
        System.Text.Json.JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        System.Text.Json.JsonValueKind.Object => ToDict(e.EnumerateObject().Select(p => (p.Name, FromJson(p.Value)))),
        _ => null,
    };
}

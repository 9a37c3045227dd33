using System.Globalization;
using System.Text;

namespace IftSharp.Tokenization.Jinja;

/// <summary>Attribute and item access, slicing, arithmetic and the Python methods templates call on strings and dicts.</summary>
internal static class JinjaObjects
{
    // Python methods that exist but are not implemented here: using one is an error rather than a silent Undefined.
    private static readonly HashSet<string> OtherStrMethods =
    [
        "casefold", "center", "count", "encode", "expandtabs", "find", "format", "format_map", "index", "isalnum", "isalpha",
        "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle",
        "isupper", "ljust", "maketrans", "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rjust", "rpartition",
        "rsplit", "splitlines", "swapcase", "translate", "zfill",
    ];
    private static readonly HashSet<string> OtherDictMethods = ["clear", "copy", "fromkeys", "pop", "popitem", "setdefault", "update"];
    private static readonly HashSet<string> ListMethods =
        ["append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort"];

    /// <summary>Jinja's <c>obj.name</c>: the Python attribute first, then the item.</summary>
    public static object? GetAttr(object? obj, string name)
    {
        switch (obj)
        {
            case Undefined u: throw u.Error();
            case PyDict d:
                if (DictMethod(d, name) is { } m) return m;
                if (OtherDictMethods.Contains(name)) throw new JinjaRuntimeException($"dict.{name} is not supported");
                return d.TryGetValue(name, out var v) ? v : new Undefined($"'dict object' has no attribute '{name}'");
            case string or Markup:
                var s = obj is Markup mk ? mk.Text : (string)obj;
                if (StrMethod(s, name) is { } sm) return sm;
                if (OtherStrMethods.Contains(name)) throw new JinjaRuntimeException($"str.{name} is not supported");
                return new Undefined($"'str object' has no attribute '{name}'");
            case Namespace ns:
                return ns.Attributes.TryGetValue(name, out var nv) ? nv : new Undefined($"'Namespace' object has no attribute '{name}'");
            case LoopContext loop: return loop.Get(name);
            case List<object?> when ListMethods.Contains(name):
                throw new JinjaRuntimeException($"list.{name} is not supported (the sandbox forbids changing lists)");
            default:
                return new Undefined($"'{Py.TypeName(obj)} object' has no attribute '{name}'");
        }
    }

    /// <summary>Jinja's <c>obj[key]</c>: the item first, then (for a string key) the attribute.</summary>
    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined u) throw u.Error();
        if (key is Markup mk) key = mk.Text;
        switch (obj)
        {
            case PyDict d when key is string or bool or long or double or PyTuple && d.TryGetValue(key, out var v):
                return v;
            case List<object?> or PyTuple or PyIterable { Kind: "range" } when key is bool or long:
            {
                var items = obj is List<object?> l ? l : obj is PyTuple t ? t.Items : ((PyIterable)obj).Items;
                long i = Py.ToLong(key);
                if (i < 0) i += items.Count;
                return i >= 0 && i < items.Count ? items[(int)i] : new Undefined($"{Py.TypeName(obj)} index out of range");
            }
            case string or Markup when key is bool or long:
            {
                var cps = Py.CodePoints(obj is Markup m ? m.Text : (string)obj);
                long i = Py.ToLong(key);
                if (i < 0) i += cps.Count;
                return i >= 0 && i < cps.Count ? cps[(int)i] : new Undefined("string index out of range");
            }
        }
        if (key is string name) return GetAttr(obj, name);
        return new Undefined($"'{Py.TypeName(obj)} object' has no item {Py.Repr(key)}");
    }

    public static object? Slice(object? obj, long? start, long? stop, long? step)
    {
        switch (obj)
        {
            case Undefined u: throw u.Error();
            case string or Markup:
            {
                var cps = Py.CodePoints(obj is Markup m ? m.Text : (string)obj);
                var sb = new StringBuilder();
                foreach (int i in Py.SliceIndices(cps.Count, start, stop, step)) sb.Append(cps[i]);
                return sb.ToString();
            }
            case List<object?> l: return Py.SliceIndices(l.Count, start, stop, step).Select(i => l[i]).ToList();
            case PyTuple t: return new PyTuple(Py.SliceIndices(t.Items.Count, start, stop, step).Select(i => t.Items[i]).ToList());
            default: throw new JinjaRuntimeException($"slicing a {Py.TypeName(obj)} is not supported");
        }
    }

    public static object? Arithmetic(string op, object? a, object? b)
    {
        if (a is Undefined ua) throw ua.Error();
        if (b is Undefined ub) throw ub.Error();
        try
        {
            if (op == "+")
            {
                // Markup + str escapes the str (Markup.__add__/__radd__), even with autoescape off
                if (a is Markup ma && b is string or Markup)
                    return new Markup(ma.Text + (b is Markup bm ? bm.Text : JinjaFilters.HtmlEscape((string)b!)));
                if (b is Markup mb && a is string sa0) return new Markup(JinjaFilters.HtmlEscape(sa0) + mb.Text);
                if (a is string sa && b is string sb) return sa + sb;
                if (a is List<object?> la && b is List<object?> lb) return la.Concat(lb).ToList();
                if (a is PyTuple ta && b is PyTuple tb) return new PyTuple(ta.Items.Concat(tb.Items).ToList());
            }
            if (op == "*")
            {
                if (a is string s1 && b is bool or long) return Repeat(s1, Py.ToLong(b));
                if (b is string s2 && a is bool or long) return Repeat(s2, Py.ToLong(a));
                if (a is List<object?> l1 && b is bool or long)
                    return Enumerable.Repeat(l1, (int)Math.Max(0, Py.ToLong(b))).SelectMany(x => x).ToList();
            }
            if (op == "%" && a is string or Markup)
                throw new JinjaRuntimeException("printf-style string formatting ('...' % value) is not supported");
            if (!Py.IsNumber(a) || !Py.IsNumber(b))
                throw new JinjaRuntimeException($"unsupported operand type(s) for {op}: '{Py.TypeName(a)}' and '{Py.TypeName(b)}'");
            bool floats = a is double || b is double;
            switch (op)
            {
                case "+": return floats ? (object)(Py.ToDouble(a) + Py.ToDouble(b)) : checked(Py.ToLong(a) + Py.ToLong(b));
                case "-": return floats ? (object)(Py.ToDouble(a) - Py.ToDouble(b)) : checked(Py.ToLong(a) - Py.ToLong(b));
                case "*": return floats ? (object)(Py.ToDouble(a) * Py.ToDouble(b)) : checked(Py.ToLong(a) * Py.ToLong(b));
                case "/":
                    if (Py.ToDouble(b) == 0) throw new JinjaRuntimeException("division by zero");
                    return Py.ToDouble(a) / Py.ToDouble(b);
                case "//":
                    if (Py.ToDouble(b) == 0) throw new JinjaRuntimeException("integer division or modulo by zero");
                    if (floats) return Math.Floor(Py.ToDouble(a) / Py.ToDouble(b));
                    { long x = Py.ToLong(a), y = Py.ToLong(b), q = x / y; return x % y != 0 && (x < 0) != (y < 0) ? q - 1 : q; }
                case "%":
                    if (Py.ToDouble(b) == 0) throw new JinjaRuntimeException("integer division or modulo by zero");
                    if (floats)
                    {
                        double x = Py.ToDouble(a), y = Py.ToDouble(b), r = x % y;
                        return r != 0 && (r < 0) != (y < 0) ? r + y : r;
                    }
                    { long x = Py.ToLong(a), y = Py.ToLong(b), r = x % y; return r != 0 && (r < 0) != (y < 0) ? r + y : r; }
                case "**":
                    if (!floats && Py.ToLong(b) >= 0)
                    {
                        long result = 1, bas = Py.ToLong(a);
                        for (long i = 0; i < Py.ToLong(b); i++) result = checked(result * bas);
                        return result;
                    }
                    return Math.Pow(Py.ToDouble(a), Py.ToDouble(b));
            }
            throw new InvalidOperationException(op);
        }
        catch (OverflowException) { throw new JinjaRuntimeException("integer overflow (beyond 64 bits)"); }
    }

    private static string Repeat(string s, long n) => n <= 0 ? "" : new StringBuilder(s.Length * (int)n).Insert(0, s, (int)n).ToString();

    private static Callable? DictMethod(PyDict d, string name) => name switch
    {
        "get" => new Callable("dict.get", (args, _) =>
        {
            if (args.Count is < 1 or > 2) throw new JinjaRuntimeException("dict.get takes 1 or 2 arguments");
            var key = args[0] is Markup m ? m.Text : args[0];
            return key is string or bool or long or double && d.TryGetValue(key, out var v) ? v : args.Count > 1 ? args[1] : null;
        }),
        "items" => new Callable("dict.items", (_, _) =>
            new PyIterable("dict_items", d.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList())),
        "keys" => new Callable("dict.keys", (_, _) => new PyIterable("dict_keys", d.Keys.Cast<object?>().ToList())),
        "values" => new Callable("dict.values", (_, _) => new PyIterable("dict_values", d.Values.ToList())),
        _ => null,
    };

    private static string StrArg(List<object?> args, int i, string method) =>
        i >= args.Count ? throw new JinjaRuntimeException($"str.{method}: missing argument")
        : args[i] switch
        {
            string s => s,
            Markup m => m.Text,
            var v => throw new JinjaRuntimeException($"str.{method}: expected a string argument, got {Py.TypeName(v)}"),
        };

    private static string? OptChars(List<object?> args, string method) =>
        args.Count == 0 || args[0] is null ? null : StrArg(args, 0, method);

    private static Callable? StrMethod(string s, string name) => name switch
    {
        "strip" => new Callable(name, (a, _) => Py.Strip(s, OptChars(a, name))),
        "lstrip" => new Callable(name, (a, _) => Py.LStrip(s, OptChars(a, name))),
        "rstrip" => new Callable(name, (a, _) => Py.RStrip(s, OptChars(a, name))),
        "upper" => new Callable(name, (_, _) => Py.Upper(s)),
        "lower" => new Callable(name, (_, _) => Py.Lower(s)),
        "title" => new Callable(name, (_, _) => PyTitle(s)),
        "capitalize" => new Callable(name, (_, _) => Capitalize(s)),
        "startswith" => new Callable(name, (a, _) => Affixes(a, name).Any(p => s.StartsWith(p, StringComparison.Ordinal))),
        "endswith" => new Callable(name, (a, _) => Affixes(a, name).Any(p => s.EndsWith(p, StringComparison.Ordinal))),
        "replace" => new Callable(name, (a, _) => Replace(s, StrArg(a, 0, name), StrArg(a, 1, name), a.Count > 2 ? Py.ToLong(a[2]) : -1)),
        "split" => new Callable(name, (a, kw) =>
        {
            object? sep = a.Count > 0 ? a[0] : kw.FirstOrDefault(k => k.Name == "sep").Value;
            object? max = a.Count > 1 ? a[1] : kw.FirstOrDefault(k => k.Name == "maxsplit").Value;
            string? sepText = sep switch
            {
                null => null,
                string t => t,
                Markup m => m.Text,
                _ => throw new JinjaRuntimeException("str.split: separator must be a string"),
            };
            return Split(s, sepText, max is null ? -1 : Py.ToLong(max));
        }),
        "join" => new Callable(name, (a, _) => string.Join(s, Py.Iterate(a.Count > 0 ? a[0] : null).Select(x => x switch
        {
            string str => str,
            Markup m => m.Text,
            _ => throw new JinjaRuntimeException($"str.join: expected str items, got {Py.TypeName(x)}"),
        }))),
        _ => null,
    };

    private static IEnumerable<string> Affixes(List<object?> args, string method)
    {
        if (args.Count != 1)
            throw new JinjaRuntimeException($"str.{method} takes one argument here (start/end positions are not supported)");
        return args[0] is PyTuple t ? t.Items.Select((_, i) => StrArg(t.Items, i, method)).ToList() : [StrArg(args, 0, method)];
    }

    public static string Capitalize(string s)
    {
        if (s.Length == 0) return s;
        var cps = Py.CodePoints(s);
        return Py.Upper(cps[0]) + Py.Lower(string.Concat(cps.Skip(1)));
    }

    /// <summary>Python's str.title: a cased letter after an uncased character starts a word.</summary>
    public static string PyTitle(string s)
    {
        var sb = new StringBuilder();
        bool prevCased = false;
        foreach (var cp in Py.CodePoints(s))
        {
            var cat = CharUnicodeInfo.GetUnicodeCategory(cp, 0);
            bool cased = cat is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;
            sb.Append(prevCased ? Py.Lower(cp) : Py.Upper(cp));
            prevCased = cased;
        }
        return sb.ToString();
    }

    public static string Replace(string s, string old, string @new, long count)
    {
        if (count < 0) count = long.MaxValue;
        var sb = new StringBuilder();
        if (old.Length == 0)
        {
            // Python inserts the replacement before every code point and at the end
            var cps = Py.CodePoints(s);
            long n = 0;
            for (int i = 0; i <= cps.Count; i++)
            {
                if (n < count) { sb.Append(@new); n++; }
                if (i < cps.Count) sb.Append(cps[i]);
            }
            return sb.ToString();
        }
        int pos = 0;
        for (long n = 0; n < count; n++)
        {
            int at = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, pos, at - pos).Append(@new);
            pos = at + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    public static List<object?> Split(string s, string? sep, long maxsplit)
    {
        var result = new List<object?>();
        if (maxsplit < 0) maxsplit = long.MaxValue;
        if (sep is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && Py.IsSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (result.Count == maxsplit) { result.Add(Py.RStrip(s[i..])); break; }
                int start = i;
                while (i < s.Length && !Py.IsSpace(s[i])) i++;
                result.Add(s[start..i]);
            }
            return result;
        }
        if (sep.Length == 0) throw new JinjaRuntimeException("empty separator");
        int pos = 0;
        while (result.Count < maxsplit)
        {
            int at = s.IndexOf(sep, pos, StringComparison.Ordinal);
            if (at < 0) break;
            result.Add(s[pos..at]);
            pos = at + sep.Length;
        }
        result.Add(s[pos..]);
        return result;
    }
}

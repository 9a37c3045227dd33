using System.Globalization;
using System.Text;

namespace IftSharp.Tokenization.Jinja;

internal delegate object? FilterFunction(object? value, List<object?> args, List<(string Name, object? Value)> kwargs);

/// <summary>The filters and tests of the supported subset, each with Jinja2's semantics (tojson with transformers').</summary>
internal static class JinjaFilters
{
    private static object? Arg(List<object?> args, List<(string Name, object? Value)> kwargs, int index, string name, object? fallback)
    {
        if (index >= 0 && index < args.Count) return args[index];
        foreach (var (k, v) in kwargs) if (k == name) return v;
        return fallback;
    }

    private static string Text(object? v) => v is Markup m ? m.Text : Py.Str(v);

    /// <summary>A filter's string input; on a |safe value Jinja would keep escaping semantics we do not model.</summary>
    private static string StrOnly(object? v, string filter) => v switch
    {
        string s => s,
        Markup => throw new JinjaRuntimeException($"the '{filter}' filter on a |safe value is not supported"),
        _ => Py.Str(v),
    };

    public static readonly Dictionary<string, FilterFunction> Filters = new()
    {
        ["abs"] = (v, _, _) => v is double d ? (object)Math.Abs(d) : Math.Abs(Py.ToLong(v)),
        ["attr"] = (v, a, k) => JinjaObjects.GetAttr(v, Text(Arg(a, k, 0, "name", ""))),
        ["capitalize"] = (v, _, _) => JinjaObjects.Capitalize(StrOnly(v, "capitalize")),
        ["count"] = (v, _, _) => Py.Len(v),
        ["length"] = (v, _, _) => Py.Len(v),
        ["default"] = Default,
        ["d"] = Default,
        ["first"] = (v, _, _) => Py.Iterate(v) is { Count: > 0 } l ? l[0] : new Undefined("No first item, sequence was empty."),
        ["last"] = (v, _, _) => v is PyIterable { HasLength: false }
            ? throw new JinjaRuntimeException("argument to reversed() must be a sequence")
            : Py.Iterate(v) is { Count: > 0 } l ? l[^1] : new Undefined("No last item, sequence was empty."),
        ["float"] = (v, a, k) => ToFloat(v) ?? Arg(a, k, 0, "default", 0.0),
        ["int"] = (v, a, k) => ToInt(v, Py.ToLong(Arg(a, k, 1, "base", 10L))) ?? Arg(a, k, 0, "default", 0L),
        ["indent"] = Indent,
        ["items"] = (v, _, _) => v switch
        {
            Undefined => new PyIterable("generator", []),
            PyDict d => new PyIterable("generator", d.Select(kv => (object?)new PyTuple([kv.Key, kv.Value])).ToList()),
            _ => throw new JinjaRuntimeException($"can only get item pairs from a mapping, not {Py.TypeName(v)}"),
        },
        ["join"] = (v, a, k) =>
        {
            var sep = Text(Arg(a, k, 0, "d", ""));
            var attribute = Arg(a, k, 1, "attribute", null);
            return string.Join(sep, Py.Iterate(v).Select(x => Text(attribute is null ? x : AttrPath(x, attribute))));
        },
        ["list"] = (v, _, _) => new List<object?>(Py.Iterate(v)),
        ["lower"] = (v, _, _) => Py.Lower(StrOnly(v, "lower")),
        ["upper"] = (v, _, _) => Py.Upper(StrOnly(v, "upper")),
        ["title"] = (v, _, _) => Title(StrOnly(v, "title")),
        ["replace"] = (v, a, k) => JinjaObjects.Replace(StrOnly(v, "replace"), Text(Arg(a, k, 0, "old", "")), Text(Arg(a, k, 1, "new", "")),
            Arg(a, k, 2, "count", null) is { } c ? Py.ToLong(c) : -1),
        ["reverse"] = (v, _, _) => v is string s ? string.Concat(Enumerable.Reverse(Py.CodePoints(s)))
            : new PyIterable("iterator", Enumerable.Reverse(Py.Iterate(v)).ToList()),
        ["safe"] = (v, _, _) => v as Markup ?? new Markup(Py.Str(v)),
        ["string"] = (v, _, _) => v is Markup ? v : Py.Str(v),
        ["trim"] = (v, a, k) =>
        {
            var chars = Arg(a, k, 0, "chars", null);
            var stripped = Py.Strip(Text(v), chars is null ? null : Text(chars));
            return v is Markup ? new Markup(stripped) : stripped;
        },
        ["tojson"] = (v, a, k) => JinjaJson.Dumps(v, Py.Truthy(Arg(a, k, 0, "ensure_ascii", false)), Arg(a, k, 1, "indent", null),
            Arg(a, k, 2, "separators", null), Py.Truthy(Arg(a, k, 3, "sort_keys", false))),
        ["map"] = (v, a, k) =>
        {
            var items = Py.Iterate(v);
            if (a.Count == 0)
            {
                var attribute = Arg(a, k, -1, "attribute", null)
                    ?? throw new JinjaRuntimeException("map needs a filter name or attribute=");
                bool hasDefault = k.Any(x => x.Name == "default");
                var dflt = Arg(a, k, -1, "default", null);
                return new PyIterable("generator",
                    items.Select(x => AttrPath(x, attribute) is var r && r is Undefined && hasDefault ? dflt : r).ToList());
            }
            var name = Text(a[0]);
            if (!Filters!.TryGetValue(name, out var f)) throw new JinjaRuntimeException($"no filter named '{name}'");
            var rest = a.Skip(1).ToList();
            return new PyIterable("generator", items.Select(x => f(x, rest, k)).ToList());
        },
        ["select"] = (v, a, k) => SelectOrReject(v, a, k, select: true, byAttribute: false),
        ["reject"] = (v, a, k) => SelectOrReject(v, a, k, select: false, byAttribute: false),
        ["selectattr"] = (v, a, k) => SelectOrReject(v, a, k, select: true, byAttribute: true),
        ["rejectattr"] = (v, a, k) => SelectOrReject(v, a, k, select: false, byAttribute: true),
        ["sort"] = (v, a, k) =>
        {
            bool reverse = Py.Truthy(Arg(a, k, 0, "reverse", false));
            bool caseSensitive = Py.Truthy(Arg(a, k, 1, "case_sensitive", false));
            var attribute = Arg(a, k, 2, "attribute", null);
            object? Key(object? x)
            {
                var key = attribute is null ? x : AttrPath(x, attribute);
                return !caseSensitive && key is string s ? Py.Lower(s) : key;
            }
            var keyed = Py.Iterate(v).Select(x => (Key: Key(x), Item: x)).ToList();
            var comparer = Comparer<(object? Key, object? Item)>.Create((p, q) => Py.Compare(p.Key, q.Key));
            // both orders are stable, as Python's sorted(reverse=True) is
            return (reverse ? keyed.OrderDescending(comparer) : keyed.Order(comparer)).Select(p => p.Item).ToList();
        },
    };

    private static object? Default(object? v, List<object?> a, List<(string Name, object? Value)> k)
    {
        bool boolean = Py.Truthy(Arg(a, k, 1, "boolean", false));
        return v is Undefined || boolean && !Py.Truthy(v) ? Arg(a, k, 0, "default_value", "") : v;
    }

    /// <summary>Jinja's attribute path for selectattr/map/join/sort: dotted, integer parts index, each step item-then-attribute.</summary>
    private static object? AttrPath(object? item, object? attribute)
    {
        if (attribute is long or bool) return JinjaObjects.GetItem(item, attribute);
        foreach (var part in Text(attribute).Split('.'))
        {
            object key = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long i) ? i : part;
            item = JinjaObjects.GetItem(item, key);
        }
        return item;
    }

    private static object? SelectOrReject(object? v, List<object?> a, List<(string Name, object? Value)> k, bool select, bool byAttribute)
    {
        int next = 0;
        object? attribute = null;
        if (byAttribute)
        {
            if (a.Count == 0) throw new JinjaRuntimeException("selectattr/rejectattr need an attribute name");
            attribute = a[0];
            next = 1;
        }
        Func<object?, bool> predicate = Py.Truthy;
        if (a.Count > next)
        {
            var name = Text(a[next]);
            if (!Tests.TryGetValue(name, out var test)) throw new JinjaRuntimeException($"no test named '{name}'");
            var rest = a.Skip(next + 1).ToList();
            predicate = x => Py.Truthy(test(x, rest, k));
        }
        return new PyIterable("generator",
            Py.Iterate(v).Where(x => predicate(byAttribute ? AttrPath(x, attribute) : x) == select).ToList());
    }

    /// <summary>Jinja's title filter (not str.title): words start after whitespace, '-' and opening brackets.</summary>
    private static string Title(string s)
    {
        static bool Sep(char c) => Py.IsSpace(c) || c is '-' or '(' or '{' or '[' or '<';
        var sb = new StringBuilder();
        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            bool sep = Sep(s[i]);
            while (i < s.Length && Sep(s[i]) == sep) i++;
            sb.Append(sep ? s[start..i] : JinjaObjects.Capitalize(s[start..i]));
        }
        return sb.ToString();
    }

    private static object? Indent(object? v, List<object?> a, List<(string Name, object? Value)> k)
    {
        var width = Arg(a, k, 0, "width", 4L);
        bool first = Py.Truthy(Arg(a, k, 1, "first", false));
        bool blank = Py.Truthy(Arg(a, k, 2, "blank", false));
        string indention = width is string ws ? ws : new string(' ', (int)Math.Max(0, Py.ToLong(width)));
        // Jinja appends a newline before splitting, so a trailing newline is kept and an empty input yields ""
        var lines = SplitLines(StrOnly(v, "indent") + "\n");
        string rv;
        if (blank) rv = string.Join("\n" + indention, lines);
        else
        {
            rv = lines[0];
            if (lines.Count > 1) rv += "\n" + string.Join("\n", lines.Skip(1).Select(l => l.Length > 0 ? indention + l : l));
        }
        return first ? indention + rv : rv;
    }

    /// <summary>Python's str.splitlines (the line boundaries Python recognises, ends dropped).</summary>
    private static List<string> SplitLines(string s)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')
            {
                lines.Add(s[start..i]);
                if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
                start = i + 1;
            }
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    private static object? ToInt(object? v, long numberBase)
    {
        switch (v)
        {
            case bool or long: return Py.ToLong(v);
            case double d:
                if (double.IsInfinity(d)) throw new JinjaRuntimeException("cannot convert float infinity to integer");
                return double.IsNaN(d) ? null : (long)Math.Truncate(d);
            case string or Markup:
            {
                var s = Py.Strip(Text(v)).Replace("_", "");
                bool neg = s.StartsWith('-');
                var digits = s.Length > 0 && s[0] is '+' or '-' ? s[1..] : s;
                try
                {
                    if (digits.Length > 0 && numberBase == 10 && digits.All(char.IsAsciiDigit))
                        return checked(long.Parse(digits, CultureInfo.InvariantCulture) * (neg ? -1 : 1));
                    if (digits.Length > 0 && numberBase is 2 or 8 or 16)
                    {
                        long r = Convert.ToInt64(digits, (int)numberBase);
                        return neg ? -r : r;
                    }
                }
                catch (Exception e) when (e is FormatException or ArgumentException or OverflowException) { }
                return ToFloat(v) is double f && !double.IsNaN(f) && !double.IsInfinity(f) ? (long)Math.Truncate(f) : null;
            }
            default: return null;
        }
    }

    private static double? ToFloat(object? v)
    {
        switch (v)
        {
            case bool or long or double: return Py.ToDouble(v);
            case string or Markup:
            {
                var s = Py.Strip(Text(v));
                var body = s.ToLowerInvariant().TrimStart('+', '-');
                if (body is "inf" or "infinity") return s.StartsWith('-') ? double.NegativeInfinity : double.PositiveInfinity;
                if (body == "nan") return double.NaN;
                if (s.Length > 0 && s.All(c => char.IsAsciiDigit(c) || c is '.' or 'e' or 'E' or '+' or '-' or '_')
                    && double.TryParse(s.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return d;
                return null;
            }
            default: return null;
        }
    }

    public static string HtmlEscape(string s) =>
        s.Replace("&", "&amp;").Replace(">", "&gt;").Replace("<", "&lt;").Replace("'", "&#39;").Replace("\"", "&#34;");

    private static object? Other(List<object?> a, List<(string Name, object? Value)> k, string test)
    {
        if (a.Count == 0 && k.Count == 0) throw new JinjaRuntimeException($"the '{test}' test needs an argument");
        return a.Count > 0 ? a[0] : k[0].Value;
    }

    public static readonly Dictionary<string, FilterFunction> Tests = BuildTests();

    private static Dictionary<string, FilterFunction> BuildTests()
    {
        FilterFunction eq = (v, a, k) => Py.Eq(v, Other(a, k, "=="));
        FilterFunction ne = (v, a, k) => !Py.Eq(v, Other(a, k, "!="));
        FilterFunction lt = (v, a, k) => Py.Compare(v, Other(a, k, "<")) < 0;
        FilterFunction le = (v, a, k) => Py.Compare(v, Other(a, k, "<=")) <= 0;
        FilterFunction gt = (v, a, k) => Py.Compare(v, Other(a, k, ">")) > 0;
        FilterFunction ge = (v, a, k) => Py.Compare(v, Other(a, k, ">=")) >= 0;
        return new()
        {
            ["defined"] = (v, _, _) => v is not Undefined,
            ["undefined"] = (v, _, _) => v is Undefined,
            ["none"] = (v, _, _) => v is null,
            ["string"] = (v, _, _) => v is string or Markup,
            ["mapping"] = (v, _, _) => v is PyDict,
            // Undefined is iterable and (having __len__ and __getitem__) a sequence in Python's eyes
            ["iterable"] = (v, _, _) => v is string or Markup or List<object?> or PyTuple or PyDict or PyIterable or Undefined,
            ["sequence"] = (v, _, _) =>
                v is string or Markup or List<object?> or PyTuple or PyDict or PyIterable { HasLength: true } or Undefined,
            ["number"] = (v, _, _) => Py.IsNumber(v),
            ["integer"] = (v, _, _) => v is long,
            ["float"] = (v, _, _) => v is double,
            ["boolean"] = (v, _, _) => v is bool,
            ["true"] = (v, _, _) => v is true,
            ["false"] = (v, _, _) => v is false,
            ["callable"] = (v, _, _) => v is Callable,
            ["odd"] = (v, _, _) => Py.ToLong(v) % 2 != 0,
            ["even"] = (v, _, _) => Py.ToLong(v) % 2 == 0,
            ["divisibleby"] = (v, a, k) => Py.Eq(JinjaObjects.Arithmetic("%", v, Other(a, k, "divisibleby")), 0L),
            ["lower"] = (v, _, _) => Py.IsCase(Text(v), lower: true),
            ["upper"] = (v, _, _) => Py.IsCase(Text(v), lower: false),
            ["in"] = (v, a, k) => Py.Contains(Other(a, k, "in"), v),
            ["sameas"] = (v, a, k) => Other(a, k, "sameas") is var o
                && (v is null ? o is null : v is bool b ? o is bool ob && b == ob : ReferenceEquals(v, o)),
            ["equalto"] = eq, ["eq"] = eq, ["=="] = eq,
            ["ne"] = ne, ["!="] = ne,
            ["lt"] = lt, ["lessthan"] = lt, ["<"] = lt,
            ["le"] = le, ["<="] = le,
            ["gt"] = gt, ["greaterthan"] = gt, [">"] = gt,
            ["ge"] = ge, [">="] = ge,
        };
    }
}

using System.Globalization;
using System.Reflection;
using System.Text;

namespace IftSharp.Core;

/// <summary>One <see cref="SettingAttribute"/>-declared property of an options record: how to parse, check and show it.</summary>
public sealed class SettingInfo
{
    private readonly PropertyInfo _property;

    internal SettingInfo(PropertyInfo property, SettingAttribute attribute)
    {
        _property = property;
        Attribute = attribute;
        var type = property.PropertyType;
        IsNullable = Nullable.GetUnderlyingType(type) is not null || !type.IsValueType;
        ValueType = Nullable.GetUnderlyingType(type) ?? type;
        if (!(ValueType == typeof(double) || ValueType == typeof(int) || ValueType == typeof(long) || ValueType == typeof(bool)
              || ValueType == typeof(string) || ValueType.IsEnum))
            throw new ArgumentException($"setting {property.DeclaringType?.Name}.{property.Name}: unsupported type {ValueType.Name}");
    }

    public SettingAttribute Attribute { get; }
    /// <summary>The flag name without dashes (<c>learning-rate</c>).</summary>
    public string Name => Attribute.Name;
    public string Flag => "--" + Name;
    /// <summary>The key in a config file (<c>learning_rate</c>).</summary>
    public string ConfigKey => Name.Replace('-', '_');
    public string Help => Attribute.Help;
    public Type ValueType { get; }
    public bool IsNullable { get; }
    public bool IsSwitch => ValueType == typeof(bool);
    public string PropertyName => _property.Name;

    public object? Get(object record) => _property.GetValue(record);

    internal void Set(object record, object? value) => _property.SetValue(record, value);

    /// <summary>The choices of an enum setting, as written on the command line (snake_case: <c>exo_pair</c>).</summary>
    public IReadOnlyList<string> Choices => ValueType.IsEnum ? Enum.GetNames(ValueType).Select(SnakeCase).ToList() : [];

    /// <summary>A value as the user writes it: numbers in invariant culture, enums in snake_case, switches true/false.</summary>
    public string Format(object? value) => value switch
    {
        null => "none",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        Enum e => SnakeCase(e.ToString()),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Parses a value written by the user; <paramref name="source"/> names where it came from in the error.</summary>
    public object? Parse(string text, string source)
    {
        text = text.Trim();
        if (IsNullable && text is "" or "null" or "none" && ValueType != typeof(string)) return null;
        if (ValueType == typeof(string)) return text;
        if (ValueType == typeof(bool))
        {
            if (text is "true" or "True" or "1" or "yes") return true;
            if (text is "false" or "False" or "0" or "no") return false;
            throw new InputException($"{source}: '{text}' is not a switch value; expected true or false");
        }
        if (ValueType.IsEnum)
        {
            string Key(string s) => s.Replace("_", "").Replace("-", "").ToLowerInvariant();
            var match = Enum.GetNames(ValueType).FirstOrDefault(n => Key(n) == Key(text));
            // An enum given as a number (scheduler: 99) is not one of its names: refuse it rather than cast it.
            return match is not null ? Enum.Parse(ValueType, match)
                : throw new InputException($"{source}: '{text}' is not one of {string.Join(", ", Choices)}");
        }
        var style = NumberStyles.Float;
        if (ValueType == typeof(double) && double.TryParse(text, style, CultureInfo.InvariantCulture, out var d)) return d;
        if (ValueType == typeof(int) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i)) return i;
        if (ValueType == typeof(long) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)) return l;
        string expected = ValueType == typeof(double) ? "a number" : "a whole number";
        throw new InputException($"{source}: '{text}' is not {expected}");
    }

    /// <summary>
    /// Checks a value against the declared range (numbers must also be finite); <paramref name="source"/> names it in the error.
    /// </summary>
    public void Check(object? value, string source)
    {
        if (value is null || !(ValueType == typeof(double) || ValueType == typeof(int) || ValueType == typeof(long))) return;
        double x = Convert.ToDouble(value, CultureInfo.InvariantCulture);
        if (!double.IsFinite(x)) throw new InputException($"{source}: {Format(value)} is not a finite number; expected {Range()}");
        if (!double.IsNaN(Attribute.Off) && x == Attribute.Off) return;
        var a = Attribute;
        bool below = !double.IsNaN(a.Min) && (a.MinExclusive ? x <= a.Min : x < a.Min);
        bool above = !double.IsNaN(a.Max) && (a.MaxExclusive ? x >= a.Max : x > a.Max);
        if (below || above) throw new InputException($"{source}: {Format(value)} is out of range; expected {Range()}");
    }

    /// <summary>The valid values in words: "a number > 0", "a whole number ≥ 1", "a number in [0, 1]".</summary>
    public string Range()
    {
        var a = Attribute;
        string kind = ValueType == typeof(double) ? "a number" : "a whole number";
        string N(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        string text = (double.IsNaN(a.Min), double.IsNaN(a.Max)) switch
        {
            (true, true) => kind,
            (false, true) => $"{kind} {(a.MinExclusive ? ">" : "≥")} {N(a.Min)}",
            (true, false) => $"{kind} {(a.MaxExclusive ? "<" : "≤")} {N(a.Max)}",
            _ => $"{kind} in {(a.MinExclusive ? "(" : "[")}{N(a.Min)}, {N(a.Max)}{(a.MaxExclusive ? ")" : "]")}",
        };
        return double.IsNaN(a.Off) ? text : $"{text}, or {N(a.Off)} to turn it off";
    }

    /// <summary>
    /// PascalCase to snake_case: <c>ExoPair</c> → <c>exo_pair</c>, <c>L1</c> → <c>l1</c>, <c>AdamW</c> → <c>adamw</c>.
    /// </summary>
    public static string SnakeCase(string name)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            bool boundary = i > 0 && char.IsUpper(c) && char.IsLower(name[i - 1]) && i + 1 < name.Length && char.IsLower(name[i + 1]);
            if (boundary) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }
}

/// <summary>Reads the settings an options record declares, checks them, and makes copies with new values.</summary>
public static class Settings
{
    private static readonly Dictionary<Type, IReadOnlyList<SettingInfo>> Cache = [];

    /// <summary>The declared settings of <paramref name="recordType"/>, in declaration order.</summary>
    public static IReadOnlyList<SettingInfo> Of(Type recordType)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(recordType, out var known)) return known;
            var list = recordType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .OrderBy(p => p.MetadataToken)
                .Select(p => (Property: p, Attribute: p.GetCustomAttribute<SettingAttribute>()))
                .Where(x => x.Attribute is not null)
                .Select(x => new SettingInfo(x.Property, x.Attribute!)).ToList();
            return Cache[recordType] = list;
        }
    }

    /// <summary>A copy of <paramref name="record"/> with the given settings replaced (the record itself is unchanged).</summary>
    public static T With<T>(T record, IEnumerable<(SettingInfo Setting, object? Value)> values) where T : class
    {
        var clone = (T)MemberwiseCloneMethod.Invoke(record, null)!;
        foreach (var (setting, value) in values) setting.Set(clone, value);
        return clone;
    }

    /// <summary>Checks every declared setting of <paramref name="record"/> against its range; errors name the flag.</summary>
    public static void Validate(object record)
    {
        foreach (var s in Of(record.GetType())) s.Check(s.Get(record), s.Flag);
    }

    private static readonly MethodInfo MemberwiseCloneMethod =
        typeof(object).GetMethod("MemberwiseClone", BindingFlags.Instance | BindingFlags.NonPublic)!;
}

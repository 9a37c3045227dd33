namespace IftSharp.Core;

/// <summary>
/// Declares a property of an options record as a user-facing setting: its flag name (<c>--name</c> on the command
/// line, <c>name</c> or <c>name_with_underscores</c> in a <c>--config</c> file), its help and its valid range. The
/// record's initializer is the default. Everything that shows or checks settings (the CLI's flags and help, config
/// files, validation, the README's tables) reads these, so each setting is declared once, beside its default.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SettingAttribute(string name, string help) : Attribute
{
    /// <summary>kebab-case, without the dashes: <c>learning-rate</c>.</summary>
    public string Name { get; } = name;
    public string Help { get; } = help;
    /// <summary>Lower bound of a number (NaN: none).</summary>
    public double Min { get; set; } = double.NaN;
    /// <summary>Upper bound of a number (NaN: none).</summary>
    public double Max { get; set; } = double.NaN;
    /// <summary>The lower bound itself is not allowed (β &gt; 0).</summary>
    public bool MinExclusive { get; set; }
    /// <summary>The upper bound itself is not allowed.</summary>
    public bool MaxExclusive { get; set; }
    /// <summary>A value that also means "off" outside the range (0 disables clipping, say).</summary>
    public double Off { get; set; } = double.NaN;
}

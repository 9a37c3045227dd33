using System.CommandLine;
using System.Globalization;

namespace IftSharp.Cli.Commands;

/// <summary>
/// Ranges of the plain options of commands whose flags are not generated from <c>[Setting]</c>s (frozenlake, compare,
/// bench), declared beside each option and worded as the settings' checks. They run while the command line is parsed,
/// so a bad value is a parse error (exit code 2) before any work starts.
/// </summary>
public static class OptionRanges
{
    /// <summary>A whole number no smaller than <paramref name="min"/>.</summary>
    public static Option<int> AtLeast(this Option<int> option, int min)
    {
        option.Validators.Add(result =>
        {
            if (Value<int>(result) is int v && v < min) result.AddError(Below(option.Name, v, min));
        });
        return option;
    }

    /// <summary>When given, a whole number no smaller than <paramref name="min"/>.</summary>
    public static Option<int?> AtLeast(this Option<int?> option, int min)
    {
        option.Validators.Add(result =>
        {
            if (Value<int?>(result) is int v && v < min) result.AddError(Below(option.Name, v, min));
        });
        return option;
    }

    /// <summary>A finite number above zero.</summary>
    public static Option<double> Positive(this Option<double> option)
    {
        option.Validators.Add(result =>
        {
            if (Value<double>(result) is double v && !(double.IsFinite(v) && v > 0))
                result.AddError($"{option.Name}: {v.ToString("R", CultureInfo.InvariantCulture)} is "
                    + (double.IsFinite(v) ? "out of range" : "not a finite number") + "; expected a number > 0");
        });
        return option;
    }

    private static string Below(string name, int value, int min) => $"{name}: {value} is out of range; expected a whole number ≥ {min}";

    /// <summary>The parsed value, or null when the text did not parse (that error is reported already).</summary>
    private static T? Value<T>(System.CommandLine.Parsing.OptionResult result)
    {
        try { return result.GetValueOrDefault<T>(); }
        catch (InvalidOperationException) { return default; }
    }
}

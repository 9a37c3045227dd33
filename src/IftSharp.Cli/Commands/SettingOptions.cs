using System.CommandLine;
using IftSharp.Core;
using YamlDotNet.RepresentationModel;

namespace IftSharp.Cli.Commands;

/// <summary>
/// Command-line options made from declared settings (<see cref="SettingAttribute"/>), and the values a user gave:
/// flags typed on the command line, else keys of a <c>--config</c> file (YAML or JSON, named like the flags with '-' or
/// '_': <c>learning_rate: 1e-3</c>). Values stay text until <see cref="SettingInfo.Parse"/> reads them, so a bad value
/// gets the same one-line error from either place.
/// </summary>
public sealed class SettingOptions
{
    private readonly Dictionary<string, Option> _options = [];

    /// <summary>Adds one option per setting name (the first declaration's kind); <paramref name="help"/> writes its description.</summary>
    public void Add(Command command, SettingInfo setting, string help)
    {
        if (_options.ContainsKey(setting.Name)) return;
        Option option = setting.IsSwitch
            ? new Option<bool>(setting.Flag) { Description = help }
            : new Option<string?>(setting.Flag) { Description = help, HelpName = HelpName(setting) };
        _options[setting.Name] = option;
        command.Options.Add(option);
    }

    private static string HelpName(SettingInfo s) =>
        s.ValueType.IsEnum ? string.Join("|", s.Choices)
        : s.ValueType == typeof(string) ? "VALUE"
        : s.ValueType == typeof(double) ? "X"
        : "N";

    /// <summary>
    /// The values given, by setting name: the command line's, then the config file's for the rest. A config key that
    /// names no setting is an error with the nearest valid name.
    /// </summary>
    public Dictionary<string, string> Given(ParseResult parse, string? configPath)
    {
        var values = configPath is null ? new Dictionary<string, string>() : ReadConfig(configPath);
        foreach (var (name, option) in _options)
        {
            var result = parse.GetResult(option);
            if (result is null || result.Implicit) continue;
            values[name] = option is Option<bool> b
                ? (parse.GetValue(b) ? "true" : "false")
                : parse.GetValue((Option<string?>)option) ?? "";
        }
        return values;
    }

    private Dictionary<string, string> ReadConfig(string path)
    {
        if (Directory.Exists(path)) throw new InputException($"{path}: is a folder; expected a YAML or JSON file of settings (--config)");
        if (!File.Exists(path)) throw new InputException($"{path}: file not found (--config)");
        var stream = new YamlStream();
        try { using var reader = new StreamReader(path); stream.Load(reader); }
        catch (YamlDotNet.Core.YamlException e) { throw new InputException($"{path}:{e.Start.Line}: malformed YAML/JSON ({e.Message})"); }
        var values = new Dictionary<string, string>();
        if (stream.Documents.Count == 0) return values;
        if (stream.Documents[0].RootNode is not YamlMappingNode map)
            throw new InputException($"{path}: expected a mapping of setting names to values");
        foreach (var (key, value) in map.Children)
        {
            string name = ((YamlScalarNode)key).Value!.TrimStart('-').Replace('_', '-');
            if (!_options.ContainsKey(name) || name == "config")
            {
                var nearest = _options.Keys.Where(k => k != "config").MinBy(k => Distance(k, name));
                throw new InputException($"{path}:{key.Start.Line}: field '{key}': not a setting"
                    + (nearest is not null && Distance(nearest, name) <= Math.Max(2, name.Length / 3)
                        ? $"; did you mean {nearest.Replace('-', '_')}?"
                        : ""));
            }
            if (value is not YamlScalarNode scalar)
                throw new InputException($"{path}:{key.Start.Line}: field '{key}': expected a single value");
            values[name] = scalar.Value ?? "";
        }
        return values;
    }

    /// <summary>Levenshtein distance: "did you mean" for misspelled keys.</summary>
    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }

    /// <summary>
    /// A copy of <paramref name="record"/> with the given values of its settings; the values are removed from
    /// <paramref name="given"/>.
    /// </summary>
    public static T Bind<T>(T record, Dictionary<string, string> given) where T : class
    {
        var changes = new List<(SettingInfo, object?)>();
        foreach (var s in Settings.Of(record.GetType()))
            if (given.Remove(s.Name, out var text)) changes.Add((s, s.Parse(text, s.Flag)));
        var bound = Settings.With(record, changes);
        Settings.Validate(bound);
        return bound;
    }
}

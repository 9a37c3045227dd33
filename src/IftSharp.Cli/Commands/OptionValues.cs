using System.CommandLine;
using System.Globalization;
using IftSharp.Core;
using YamlDotNet.RepresentationModel;

namespace IftSharp.Cli.Commands;

/// <summary>
/// Option values from the command line, else from a <c>--config</c> file (YAML or JSON, keys named like the flags, with
/// '-' or '_': <c>learning_rate: 1e-3</c>), else the option's default. Flags typed on the command line win.
/// </summary>
public sealed class OptionValues
{
    private readonly ParseResult _parse;
    private readonly Dictionary<string, string> _config = new(StringComparer.OrdinalIgnoreCase);
    private readonly string? _configPath;

    public OptionValues(ParseResult parse, string? configPath)
    {
        _parse = parse;
        _configPath = configPath;
        if (configPath is null) return;
        if (!File.Exists(configPath)) throw new InputException($"{configPath}: file not found (--config)");
        var stream = new YamlStream();
        try { using var reader = new StreamReader(configPath); stream.Load(reader); }
        catch (YamlDotNet.Core.YamlException e) { throw new InputException($"{configPath}:{e.Start.Line}: malformed YAML/JSON ({e.Message})"); }
        if (stream.Documents.Count == 0) return;
        if (stream.Documents[0].RootNode is not YamlMappingNode map)
            throw new InputException($"{configPath}: expected a mapping of option names to values");
        foreach (var (key, value) in map.Children)
        {
            if (value is not YamlScalarNode scalar)
                throw new InputException($"{configPath}:{key.Start.Line}: field '{key}': expected a single value");
            _config[Normalise(((YamlScalarNode)key).Value!)] = scalar.Value ?? "";
        }
    }

    private static string Normalise(string name) => name.TrimStart('-').Replace('_', '-');

    public T Get<T>(Option<T> option)
    {
        var result = _parse.GetResult(option);
        if (result is { Implicit: false }) return _parse.GetValue(option)!;
        if (_config.TryGetValue(Normalise(option.Name), out var text)) return Convert<T>(text, option.Name);
        return _parse.GetValue(option)!;
    }

    /// <summary>A value that must come from the command line or the config file.</summary>
    public T Required<T>(Option<T> option) =>
        Get(option) ?? throw new InputException($"{option.Name}: missing; give it on the command line or in the --config file");

    private T Convert<T>(string text, string name)
    {
        var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        try
        {
            object value = type == typeof(string) ? text
                : type == typeof(bool) ? bool.Parse(text)
                : type.IsEnum ? Enum.Parse(type, text, ignoreCase: true)
                : System.Convert.ChangeType(text, type, CultureInfo.InvariantCulture);
            return (T)value;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidCastException or OverflowException)
        {
            throw new InputException($"{_configPath}: field '{Normalise(name).Replace('-', '_')}': '{text}' is not a valid {type.Name}");
        }
    }
}

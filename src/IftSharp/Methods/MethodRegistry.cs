using IftSharp.Core;
using IftSharp.Objectives;

namespace IftSharp.Methods;

/// <summary>
/// Every training method, one line each. The CLI's <c>--method</c> values, flags and help, <c>compare</c>, <c>bench</c>,
/// Frozen Lake, the README's method table and the tests all come from this list.
/// </summary>
public static class MethodRegistry
{
    public static IReadOnlyList<ITrainingMethod> All { get; } =
    [
        new SftMethod(),
        new IftMethod(),
        new DpoMethod("dpo", "DPO", "DPO: the log-sigmoid of the policy's log-ratio margin over a frozen reference", new DpoOptions()),
        new DpoMethod("ipo", "IPO", "IPO: DPO's squared-error form on length-normalised log-ratios (TRL's)",
            new DpoOptions { LossType = DpoLossType.Ipo }),
        new OrpoMethod(),
        new SimPoMethod(),
        new ExoMethod(),
        new ExoRewardMethod(),
        new DpoRewardMethod(),
        new KtoMethod(),
        new SpinMethod(),
    ];

    public static IReadOnlyList<string> Names => All.Select(m => m.Name).ToList();

    /// <summary>The method named <paramref name="name"/>; an unknown name is an error listing the known ones.</summary>
    public static ITrainingMethod Get(string name) =>
        All.FirstOrDefault(m => m.Name == name)
        ?? throw new InputException($"--method: '{name}' is not a method; expected one of {string.Join(", ", Names)}");

    /// <summary>Every setting any method declares, by flag name, with the methods that have it (the CLI's method flags).</summary>
    public static IReadOnlyList<(SettingInfo Setting, IReadOnlyList<ITrainingMethod> Methods)> Settings()
    {
        var byName = new Dictionary<string, (SettingInfo Setting, List<ITrainingMethod> Methods)>();
        var order = new List<string>();
        foreach (var method in All)
            foreach (var setting in Core.Settings.Of(method.Defaults.GetType()))
            {
                if (!byName.TryGetValue(setting.Name, out var entry))
                {
                    byName[setting.Name] = entry = (setting, []);
                    order.Add(setting.Name);
                }
                else if (entry.Setting.ValueType != setting.ValueType)
                    throw new InvalidOperationException($"--{setting.Name} is a {setting.ValueType.Name} for {method.Name} but a "
                        + $"{entry.Setting.ValueType.Name} for {entry.Methods[0].Name}; a flag must have one type");
                entry.Methods.Add(method);
            }
        return order.Select(n => (byName[n].Setting, (IReadOnlyList<ITrainingMethod>)byName[n].Methods)).ToList();
    }

    /// <summary>The settings of one method (its options record's).</summary>
    public static IReadOnlyList<SettingInfo> SettingsOf(ITrainingMethod method) => Core.Settings.Of(method.Defaults.GetType());

    /// <summary>The README's method table, made from the registry (a test keeps the README's copy equal to it).</summary>
    public static string MarkdownTable()
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("| `--method` | what it trains | data | reference model | settings (defaults) |");
        sb.AppendLine("|---|---|---|---|---|");
        foreach (var m in All)
        {
            string reference = !m.NeedsReference ? "none"
                : m.SupportsPrecomputedReference ? "frozen start; or precomputed"
                : "frozen start, live";
            var settings = string.Join(", ", SettingsOf(m).Select(x => $"`--{x.Name}` {x.Format(x.Get(m.Defaults))}"));
            sb.AppendLine($"| `{m.Name}` | {m.Help} | {m.Shape.Describe()} | {reference} | {(settings.Length == 0 ? "none" : settings)} |");
        }
        return sb.ToString();
    }

    /// <summary>A method's settings and their defaults in words: "beta 0.1, loss-type sigmoid".</summary>
    public static string DescribeDefaults(ITrainingMethod method) =>
        string.Join(", ", SettingsOf(method).Select(s => $"{s.Name} {s.Format(s.Get(method.Defaults))}"));

    /// <summary>The method's defaults with the given settings changed, checked against their ranges.</summary>
    public static object Options(ITrainingMethod method, IReadOnlyDictionary<string, string>? values = null)
    {
        var settings = SettingsOf(method).ToDictionary(s => s.Name);
        var changes = new List<(SettingInfo, object?)>();
        foreach (var (name, text) in values ?? new Dictionary<string, string>())
        {
            if (!settings.TryGetValue(name, out var s))
                throw new InputException($"--{name}: not a setting of --method {method.Name}; its settings are "
                    + (settings.Count == 0 ? "none" : string.Join(", ", settings.Keys.Select(k => "--" + k))));
            changes.Add((s, s.Parse(text, s.Flag)));
        }
        var options = Core.Settings.With(method.Defaults, changes);
        Core.Settings.Validate(options);
        return options;
    }
}

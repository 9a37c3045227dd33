using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using IftSharp.Core;
using IftSharp.FrozenLake;
using IftSharp.Methods;
using Spectre.Console;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp frozenlake</c>: the IFT paper's toy experiment (§5.3, App. B.2).</summary>
public static class FrozenLakeCommand
{
    public static Command Create()
    {
        var defaults = new FrozenLakeSettings();
        var seeds = new Option<int>("--seeds")
        {
            Description = "Seeds (each a different starting network).", DefaultValueFactory = _ => defaults.Seeds,
        }.AtLeast(1);
        var steps = new Option<int>("--steps") { Description = "Fine-tuning steps per method.", DefaultValueFactory = _ => defaults.Steps }
            .AtLeast(1);
        var map = new Option<string>("--map")
        {
            Description = "Map rows in Gymnasium's form, e.g. SFFF/FHFH/FFFH/HFFG (needs a shortest and a longer hole-free route).",
            DefaultValueFactory = _ => defaults.Map,
        };
        var output = new Option<string>("--output")
        {
            Description = "Folder for results.json, results.csv and frozenlake.png.", DefaultValueFactory = _ => "runs/frozenlake",
        };
        var lr = new Option<double>("--learning-rate")
        {
            Description = "Adam learning rate, the same for every method.", DefaultValueFactory = _ => defaults.LearningRate,
        }.Positive();
        var set = new Option<string[]>("--set")
        {
            Description = "A method's setting other than its default, as METHOD.SETTING=VALUE (repeatable), "
                + "e.g. --set ift.lambda=0.5 --set dpo.beta=0.2; "
                + "the settings are train's (see train --help).",
        };
        var hidden = new Option<int>("--hidden")
        {
            Description = "Hidden width of the two-layer policy.", DefaultValueFactory = _ => defaults.Hidden,
        }.AtLeast(1);

        var command = new Command("frozenlake", "Reproduce the IFT paper's Frozen Lake experiment: "
            + string.Join(", ", FrozenLakeExperiment.Methods.Select(m => m.DisplayName))
            + " fine-tune the same policy network; distances to the optimal policy, mean ± std over seeds.");
        foreach (var o in new Option[] { seeds, steps, map, output, lr, set, hidden }) command.Options.Add(o);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var settings = defaults with
            {
                Seeds = parse.GetValue(seeds),
                Steps = parse.GetValue(steps),
                Map = parse.GetValue(map)!,
                LearningRate = parse.GetValue(lr),
                MethodSettings = MethodSettings(parse.GetValue(set) ?? []),
                Hidden = parse.GetValue(hidden),
            };
            var dir = parse.GetValue(output)!;
            var clock = Stopwatch.StartNew();
            FrozenLakeResult? result = null;
            if (Console.IsOutputRedirected)
                result = FrozenLakeExperiment.Run(settings, Console.WriteLine);
            else
                AnsiConsole.Progress().Start(ctx =>
                {
                    var task = ctx.AddTask("Frozen Lake", maxValue: settings.Seeds);
                    result = FrozenLakeExperiment.Run(settings, _ => task.Increment(1));
                });
            FrozenLakeReport.Write(result!, dir);
            Render(result!);
            AnsiConsole.MarkupLine($"Wrote [bold]{Markup.Escape(Path.Combine(dir, "results.json"))}[/], results.csv and frozenlake.png "
                + $"in {clock.Elapsed.TotalSeconds:F0} s.");
            return 0;
        }));
        return command;
    }

    /// <summary><c>--set ift.lambda=0.5</c> values by method, each checked against the method's settings.</summary>
    private static Dictionary<string, IReadOnlyDictionary<string, string>> MethodSettings(string[] values)
    {
        var byMethod = new Dictionary<string, Dictionary<string, string>>();
        foreach (var value in values)
        {
            int dot = value.IndexOf('.'), eq = value.IndexOf('=');
            if (dot <= 0 || eq < dot + 2) throw new InputException($"--set: '{value}'; expected METHOD.SETTING=VALUE, e.g. ift.lambda=0.5");
            var method = MethodRegistry.Get(value[..dot]);
            if (!FrozenLakeExperiment.Methods.Contains(method))
                throw new InputException($"--set: --method {method.Name} does not run on Frozen Lake; its methods are "
                    + string.Join(", ", FrozenLakeExperiment.Methods.Select(m => m.Name)));
            if (!byMethod.TryGetValue(method.Name, out var settings)) byMethod[method.Name] = settings = [];
            settings[value[(dot + 1)..eq]] = value[(eq + 1)..];
            MethodRegistry.Options(method, settings); // an unknown setting or a bad value fails here, before any training
        }
        return byMethod.ToDictionary(p => p.Key, p => (IReadOnlyDictionary<string, string>)p.Value);
    }

    internal static void Render(FrozenLakeResult result)
    {
        var s = result.Settings;
        var changed = s.MethodSettings is { Count: > 0 } m
            ? "; changed settings: " + string.Join(", ", m.SelectMany(x => x.Value.Select(v => $"{x.Key}.{v.Key} {v.Value}")))
            : "; every method at its defaults";
        AnsiConsole.MarkupLine($"Map [bold]{result.Map.Layout}[/]: optimal route {result.Optimal.Length} steps, "
            + $"sub-optimal {result.SubOptimal.Length}; "
            + $"{s.Seeds} seeds × {s.Steps} steps, lr {s.LearningRate}{Markup.Escape(changed)}.");
        var table = new Table().AddColumns("method", "policy MSE", "parameter MSE", "greedy success", "explored cells");
        foreach (var r in FrozenLakeReport.Summarise(result))
            table.AddRow(Markup.Escape(r.Name), Pm(r.PolicyMse, r.PolicyMseStd), Pm(r.ParameterMse, r.ParameterMseStd),
                r.SuccessRate.ToString("P0", CultureInfo.InvariantCulture), $"{r.Explored:F1} ± {r.ExploredStd:F1}");
        AnsiConsole.Write(table);
    }

    private static string Pm(double mean, double std) => string.Create(CultureInfo.InvariantCulture, $"{mean:0.0000} ± {std:0.0000}");
}

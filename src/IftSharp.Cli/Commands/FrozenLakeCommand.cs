using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using IftSharp.FrozenLake;
using Spectre.Console;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp frozenlake</c>: the IFT paper's toy experiment (§5.3, App. B.2).</summary>
public static class FrozenLakeCommand
{
    public static Command Create()
    {
        var defaults = new FrozenLakeSettings();
        var seeds = new Option<int>("--seeds") { Description = "Seeds (each a different starting network).", DefaultValueFactory = _ => defaults.Seeds };
        var steps = new Option<int>("--steps") { Description = "Fine-tuning steps per method.", DefaultValueFactory = _ => defaults.Steps };
        var map = new Option<string>("--map") { Description = "Map rows in Gymnasium's form, e.g. SFFF/FHFH/FFFH/HFFG (needs a shortest and a longer hole-free route).", DefaultValueFactory = _ => defaults.Map };
        var output = new Option<string>("--output") { Description = "Folder for results.json, results.csv and frozenlake.png.", DefaultValueFactory = _ => "runs/frozenlake" };
        var lr = new Option<double>("--learning-rate") { Description = "Adam learning rate, the same for every method.", DefaultValueFactory = _ => defaults.LearningRate };
        var lambda = new Option<double>("--lambda") { Description = "IFT's λ (weight of the predicted state in the fused input).", DefaultValueFactory = _ => defaults.Lambda };
        var gamma = new Option<double>("--gamma") { Description = "IFT's γ (decay of the relation propagation).", DefaultValueFactory = _ => defaults.Gamma };
        var dpoBeta = new Option<double>("--dpo-beta") { Description = "DPO's β.", DefaultValueFactory = _ => defaults.DpoBeta };
        var orpoBeta = new Option<double>("--orpo-beta") { Description = "ORPO's β.", DefaultValueFactory = _ => defaults.OrpoBeta };
        var hidden = new Option<int>("--hidden") { Description = "Hidden width of the two-layer policy.", DefaultValueFactory = _ => defaults.Hidden };

        var command = new Command("frozenlake", "Reproduce the IFT paper's Frozen Lake experiment: SFT, IFT, DPO, ORPO, EXO and SimPO fine-tune the same policy network; distances to the optimal policy, mean ± std over seeds.");
        foreach (var o in new Option[] { seeds, steps, map, output, lr, lambda, gamma, dpoBeta, orpoBeta, hidden }) command.Options.Add(o);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var settings = defaults with
            {
                Seeds = parse.GetValue(seeds),
                Steps = parse.GetValue(steps),
                Map = parse.GetValue(map)!,
                LearningRate = parse.GetValue(lr),
                Lambda = parse.GetValue(lambda),
                Gamma = parse.GetValue(gamma),
                DpoBeta = parse.GetValue(dpoBeta),
                OrpoBeta = parse.GetValue(orpoBeta),
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
            AnsiConsole.MarkupLine($"Wrote [bold]{Markup.Escape(Path.Combine(dir, "results.json"))}[/], results.csv and frozenlake.png in {clock.Elapsed.TotalSeconds:F0} s.");
            return 0;
        }));
        return command;
    }

    internal static void Render(FrozenLakeResult result)
    {
        var s = result.Settings;
        AnsiConsole.MarkupLine($"Map [bold]{result.Map.Layout}[/]: optimal route {result.Optimal.Length} steps, sub-optimal {result.SubOptimal.Length}; {s.Seeds} seeds × {s.Steps} steps, lr {s.LearningRate}, λ {s.Lambda}, γ {s.Gamma}, DPO β {s.DpoBeta}, ORPO β {s.OrpoBeta}.");
        var table = new Table().AddColumns("method", "policy MSE", "parameter MSE", "greedy success", "explored cells");
        foreach (var r in FrozenLakeReport.Summarise(result))
            table.AddRow(Markup.Escape(r.Name), Pm(r.PolicyMse, r.PolicyMseStd), Pm(r.ParameterMse, r.ParameterMseStd),
                r.SuccessRate.ToString("P0", CultureInfo.InvariantCulture), $"{r.Explored:F1} ± {r.ExploredStd:F1}");
        AnsiConsole.Write(table);
    }

    private static string Pm(double mean, double std) => string.Create(CultureInfo.InvariantCulture, $"{mean:0.0000} ± {std:0.0000}");
}

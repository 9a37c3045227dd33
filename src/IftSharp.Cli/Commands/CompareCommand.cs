using System.CommandLine;
using System.Globalization;
using IftSharp.Evaluation;
using Spectre.Console;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp compare</c>: the IFT paper's language-model comparison (Tables 2 and 3) at CPU scale.</summary>
public static class CompareCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick")
        {
            Description = "A smoke test of the whole protocol in a few minutes: smaller base model, fewer steps and items, one seed.",
        };
        var seeds = new Option<int?>("--seeds") { Description = "Fine-tuning seeds (default 5; 1 with --quick)." }.AtLeast(1);
        var tuningSeeds = new Option<int?>("--tuning-seeds")
        {
            Description = "The first seeds train every learning rate of the grid and choose each method's rate; the later "
                + "seeds train only the shared rate and the chosen one (default 1; at most --seeds).",
        };
        var output = new Option<string>("--output")
        {
            Description = "Folder for results.md, results.json, compare.png, sensitivity.png and the cached stages "
                + "(models, data, evaluations).",
            DefaultValueFactory = _ => "runs/compare",
        };
        var recipes = new Option<string?>("--recipes")
        {
            Description = "Run only these recipes (comma-separated names as in the tables, e.g. \"SFT,IFT,SFT→DPO\"); default: all.",
        };
        var command = new Command("compare",
            "Pretrain a small base model on generated text, then train every method (SFT, IFT and its ablations, DPO, IPO, ORPO, "
            + "SimPO, EXO, KTO, SPIN, SFT→DPO, SFT→IFT) from it with the same steps and prompts over the same learning-rate grid "
            + "on the tuning seeds, choose each run's checkpoint and each method's learning rate on a validation split, train the "
            + "later seeds at the shared and the chosen rates, and score the final and chosen "
            + "models on reasoning, fact following, multiple choice and perplexity, with paired bootstrap intervals of the "
            + "differences. Finished stages are reused when re-run with the same settings.");
        command.Options.Add(quick); command.Options.Add(seeds); command.Options.Add(output); command.Options.Add(recipes);
        command.Options.Add(tuningSeeds);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var settings = parse.GetValue(quick) ? CompareSettings.Quick : new CompareSettings();
            if (parse.GetValue(seeds) is int n) settings = settings with { Seeds = n };
            if (parse.GetValue(tuningSeeds) is int t) settings = settings with { FineTune = settings.FineTune with { TuningSeeds = t } };
            if (parse.GetValue(recipes) is string list)
            {
                settings = settings with
                {
                    Recipes = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                };
            }
            var dir = parse.GetValue(output)!;
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            CompareResult? result = null;
            try
            {
                if (Console.IsOutputRedirected)
                {
                    string last = "";
                    var pipeline = new ComparePipeline(settings, dir, p =>
                    {
                        var stage = p.Stage.Split(':')[0];
                        if (stage != last) Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss} {100 * p.Done / p.Total,5:F1}%] {stage}");
                        last = stage;
                    }, Console.WriteLine);
                    result = pipeline.Run(cancel.Token);
                }
                else
                    AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                            new ElapsedTimeColumn(), new RemainingTimeColumn())
                        .Start(ctx =>
                        {
                            var task = ctx.AddTask("compare", maxValue: 1);
                            var pipeline = new ComparePipeline(settings, dir, p =>
                            {
                                task.MaxValue = p.Total;
                                task.Value = p.Done;
                                task.Description = Markup.Escape(p.Stage);
                            }, line => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]"));
                            result = pipeline.Run(cancel.Token);
                        });
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine(
                    $"interrupted; finished stages are kept in {dir}: run the same command again to continue from them");
                return 130;
            }
            finally { Console.CancelKeyPress -= onCancel; }

            CompareReport.Write(result!, dir);
            Render(result!);
            AnsiConsole.MarkupLine($"Wrote [bold]{Markup.Escape(Path.Combine(dir, "results.md"))}[/], results.json, compare.png and "
                + $"sensitivity.png ({result!.Seconds / 60:F1} min).");
            return 0;
        }));
        return command;
    }

    /// <summary>The table at each method's validation-chosen learning rate and checkpoint (results.md has the others).</summary>
    private static void Render(CompareResult result)
    {
        var table = new Table { Title = new TableTitle("each method's lr and checkpoint, chosen on validation") }
            .AddColumns("method", "lr", "reasoning", "fact following", "multiple choice", "average", "perplexity");
        foreach (var r in CompareReport.Summarise(result, tuned: true, CompareReport.Pick.Selected))
        {
            string P((double Mean, double Std) v) => r.Seeds > 1 ? $"{100 * v.Mean:F1} ± {100 * v.Std:F1}" : $"{100 * v.Mean:F1}";
            table.AddRow(Markup.Escape(r.Method), r.Method == "Base" ? "" : r.LearningRate.ToString("G3", CultureInfo.InvariantCulture),
                P(r.Reasoning), P(r.FactFollowing), P(r.MultipleChoice), P(r.Average),
                r.Perplexity.Mean.ToString("F3", CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
    }
}

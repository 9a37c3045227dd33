using System.CommandLine;
using System.Diagnostics;
using IftSharp.Core;
using IftSharp.Demo;
using IftSharp.FrozenLake;
using IftSharp.Methods;
using IftSharp.Models;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp demo</c>: a short end-to-end demonstration that grows with the product.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output")
        {
            Description = "Folder for the demo's files.", DefaultValueFactory = _ => "runs/demo",
        };
        var steps = new Option<int>("--steps")
        {
            Description = "Training steps of the tiny language model.", DefaultValueFactory = _ => 500,
        };
        var command = new Command("demo", "A short end-to-end demonstration (under 3 minutes on 2 cores): Frozen Lake, "
            + "then a tiny language model trained with "
            + TinyModelDemo.Method.DisplayName + ".");
        command.Options.Add(output); command.Options.Add(steps);
        command.SetAction(parse => CliErrors.Run(() => Run(parse.GetValue(output)!, parse.GetValue(steps))));
        return command;
    }

    private static int Run(string output, int steps)
    {
        AnsiConsole.Write(new Rule("[bold]IftSharp demo[/]"));
        using (NewDisposeScope())
        {
            var x = randn(4, 4, requires_grad: true);
            (x * x).sum().backward();
            var autograd = x.grad!.allclose(x.Times(2)) ? "[green]ok[/]" : "[red]failed[/]";
            AnsiConsole.MarkupLine($"TorchSharp {Markup.Escape(torch.__version__)} loaded; autograd check: {autograd}; "
                + $"{get_num_threads()} threads.");
        }

        AnsiConsole.Write(new Rule("1. Frozen Lake (IFT paper §5.3), 3 seeds"));
        AnsiConsole.MarkupLine($"{FrozenLakeExperiment.Methods.Count} methods fine-tune the same policy network from trajectory data; "
            + "lower MSE is closer to the optimal policy.");
        var result = FrozenLakeExperiment.Run(new FrozenLakeSettings { Seeds = 3 });
        var lakeDir = Path.Combine(output, "frozenlake");
        FrozenLakeReport.Write(result, lakeDir);
        FrozenLakeCommand.Render(result);
        AnsiConsole.MarkupLine($"Plot: [bold]{Markup.Escape(Path.Combine(lakeDir, "frozenlake.png"))}[/] (full run: iftsharp frozenlake).");

        AnsiConsole.Write(new Rule($"2. A tiny language model trained with {TinyModelDemo.Method.DisplayName}"));
        TrainTinyModel(output, steps);
        return 0;
    }

    private static void TrainTinyModel(string output, int steps)
    {
        var method = TinyModelDemo.Method;
        var dataDir = Path.Combine(AppContext.BaseDirectory, "data", "demo");
        DemoResult? result = null;
        void OnModel(DecoderConfig c, long parameters)
        {
            AnsiConsole.MarkupLine($"Model: Llama-style, {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, "
                + $"GQA {c.NumAttentionHeads}/{c.NumKeyValueHeads} heads, "
                + $"byte-level vocabulary of {c.VocabSize}; {parameters:N0} parameters.");
            var t = TinyModelDemo.Trainer(steps);
            AnsiConsole.MarkupLine($"Data: data/demo/train.jsonl, loss on assistant tokens only; {Markup.Escape(method.DisplayName)} "
                + $"({Markup.Escape(MethodRegistry.DescribeDefaults(method))}), AdamW lr {t.LearningRate}, cosine, "
                + $"{steps} steps of {t.BatchSize}.");
        }
        if (Console.IsOutputRedirected)
            result = TinyModelDemo.Run(dataDir, output, steps, m =>
            {
                if (m.Step % 50 == 0 || m.Step == 1)
                    Console.WriteLine($"step {m.Step}/{steps} loss {m.Loss:F4} lr {m.LearningRate:G3} {m.TokensPerSecond:F0} tokens/s");
            }, OnModel);
        else
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(method.DisplayName, maxValue: steps);
                    result = TinyModelDemo.Run(dataDir, output, steps, m =>
                    {
                        task.Description = $"{method.DisplayName} step {m.Step} loss {m.Loss:F3}";
                        task.Increment(1);
                    }, OnModel);
                });
        var h = result!.History;
        AnsiConsole.MarkupLine($"Trained in {result.Seconds:F0} s: loss {h[0].Loss:F3} → {h[^1].Loss:F3}.");
        var table = new Table().AddColumns("prompt", "set", "reference", "before training", $"after {Markup.Escape(method.DisplayName)}");
        foreach (var a in result.Answers)
            table.AddRow(Markup.Escape(a.Prompt), a.Set, Markup.Escape(a.Reference), Markup.Escape(Shown(a.Before)),
                Markup.Escape(Shown(a.After)));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"Saved the model in Hugging Face format to [bold]{Markup.Escape(result.ModelDirectory)}[/] "
            + "(config.json, model.safetensors, tokenizer files, metrics.jsonl).");
    }

    private static string Shown(string s) => s.Length == 0 ? "(nothing: ends at once)" : s.Length <= 28 ? s : s[..28] + "…";
}

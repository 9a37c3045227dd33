using System.CommandLine;
using System.Globalization;
using IftSharp.Evaluation;
using Spectre.Console;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp eval</c>: scores a model folder on the generated task suite and on a user's JSONL.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model")
        {
            Description = "Model folder (config.json, model.safetensors, tokenizer files).", Required = true,
        };
        var adapter = new Option<string?>("--adapter") { Description = "A LoRA adapter folder (PEFT's format) to apply to --model." };
        var tasks = new Option<string?>("--tasks")
        {
            Description = "Comma-separated tasks of the generated suite: reasoning, facts, choice, perplexity " +
                "(default: all four without --data, none with it).",
        };
        var data = new Option<string?>("--data")
        {
            Description = "JSONL of prompt + answer rows (exact match of the greedy answer) and/or prompt + choices + answer_index " +
                "rows (log-likelihood choice); prompt a string or a message list.",
        };
        var output = new Option<string?>("--output")
        {
            Description = "Folder for eval.json and samples.jsonl (default: none, only the table).",
        };
        var maxNew = new Option<int>("--max-new-tokens")
        {
            Description = "Most tokens generated per answer.", DefaultValueFactory = _ => 100,
        }.AtLeast(1);
        var items = new Option<int?>("--items")
        {
            Description = $"Items per task (default: {EvalOptions.DefaultSuiteItems} per suite task, every row of --data).",
        }.AtLeast(1);
        var batch = new Option<int>("--batch-size")
        {
            Description = "Sequences per forward pass.", DefaultValueFactory = _ => 16,
        }.AtLeast(1);
        var seed = new Option<int>("--seed") { Description = "Seed the suite's items are drawn with.", DefaultValueFactory = _ => 1234 };
        var command = new Command("eval",
            "Score a model on the generated suite (reasoning, fact following, multiple choice, perplexity; its evaluation split) " +
            "and on your own JSONL: exact match under greedy decoding, or the most likely choice (acc, acc_norm).");
        foreach (var o in new Option[] { model, adapter, tasks, data, output, maxNew, items, batch, seed }) command.Options.Add(o);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var options = new EvalOptions
            {
                Model = parse.GetValue(model)!, Adapter = parse.GetValue(adapter),
                Tasks = parse.GetValue(tasks) is string list ? EvalOptions.ParseTasks(list) : null,
                Data = parse.GetValue(data), Output = parse.GetValue(output), MaxNewTokens = parse.GetValue(maxNew),
                Items = parse.GetValue(items), BatchSize = parse.GetValue(batch), Seed = parse.GetValue(seed),
            };
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            EvalReport report;
            try
            {
                string last = "";
                report = ModelEval.Run(options, new EvalCallbacks
                {
                    Cancel = cancel.Token,
                    Log = line => Console.Error.WriteLine($"warning: {line}"),
                    OnProgress = p =>
                    {
                        if (p.Task == last) return;
                        last = p.Task;
                        Console.Error.WriteLine($"evaluating {p.Task} ({p.Total} {p.Unit})");
                    },
                });
            }
            finally { Console.CancelKeyPress -= onCancel; }
            Render(report);
            if (options.Output is string dir)
                Console.WriteLine($"Wrote {Path.Combine(dir, EvalReport.ResultsFile)} and {EvalReport.SamplesFile} "
                    + $"({report.Seconds:F1} s).");
            return 0;
        }));
        return command;
    }

    private static void Render(EvalReport report)
    {
        var table = new Table().AddColumns("task", "metric", "value", "items");
        foreach (var t in report.Tasks)
            foreach (var (metric, value) in t.Metrics)
            {
                var shown = metric == "perplexity" ? value.ToString("F3", CultureInfo.InvariantCulture)
                    : (100 * value).ToString("F1", CultureInfo.InvariantCulture) + " %";
                table.AddRow(Markup.Escape(t.Task), metric, shown, t.Items.ToString(CultureInfo.InvariantCulture));
            }
        AnsiConsole.Write(table);
    }
}

using System.CommandLine;
using IftSharp.Core;
using IftSharp.Methods;
using IftSharp.Training;
using Spectre.Console;

namespace IftSharp.Cli.Commands;

/// <summary>
/// <c>iftsharp train</c>: fine-tunes a model folder with any registered method. Its flags are generated from the
/// settings the run, the loop and the methods declare; it parses them, calls <see cref="TrainingRun"/> and renders.
/// </summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var command = new Command("train", "Fine-tune a model folder with any method (--method); writes the model (Hugging Face "
            + "format), or with --lora-r the LoRA adapter (PEFT's format), metrics.jsonl and checkpoints to --output. Methods:\n"
            + string.Join("\n", MethodRegistry.All.Select(m => $"  {m.Name}: {m.Help} [{m.Shape.Describe()}"
                + (m.NeedsReference ? "; reference model" : "") + "]")));
        var options = new SettingOptions();
        var run = new TrainingRunOptions();
        foreach (var s in Settings.Of(typeof(TrainingRunOptions)))
        {
            options.Add(command, s, s.Name == "method"
                ? $"One of {string.Join(", ", MethodRegistry.Names)} (default {run.Method})"
                : Describe(s, s.Get(run)));
        }
        foreach (var s in Settings.Of(typeof(TrainerOptions))) options.Add(command, s, Describe(s, s.Get(run.Trainer)));
        foreach (var (s, methods) in MethodRegistry.Settings()) options.Add(command, s, DescribeMethodSetting(s, methods));
        var config = new Option<string?>("--config")
        {
            Description = "YAML or JSON file of settings named like the flags (learning_rate: 0.001); flags override it.",
        };
        command.Options.Add(config);

        command.SetAction(parse => CliErrors.Run(() =>
        {
            var given = options.Given(parse, parse.GetValue(config));
            bool evalSteps = given.ContainsKey("eval-steps");
            var loraGiven = LoraFlags.Where(given.ContainsKey).ToHashSet();
            var runOptions = SettingOptions.Bind(new TrainingRunOptions(), given);
            var method = MethodRegistry.Get(runOptions.Method);
            var trainer = SettingOptions.Bind(new TrainerOptions(), given);
            if (evalSteps && runOptions.EvalDataset is null) throw new InputException("--eval-steps: does nothing without --eval-dataset");
            if (!runOptions.UsesLora && LoraFlags.FirstOrDefault(loraGiven.Contains) is string lonely)
                throw new InputException($"--{lonely}: does nothing without --lora-r (or --adapter)");
            // What is left are method settings: each must be one of the chosen method's.
            var methodOptions = MethodRegistry.Options(method, given);
            runOptions = runOptions with { Trainer = trainer, MethodOptions = methodOptions };
            return Train(runOptions);
        }));
        return command;
    }

    /// <summary>The LoRA settings that mean something only when LoRA is on.</summary>
    private static readonly string[] LoraFlags = ["lora-alpha", "lora-dropout", "lora-target-modules", "use-rslora"];

    private static int Train(TrainingRunOptions options)
    {
        using var cancel = new CancellationTokenSource();
        // Ctrl-C: finish the step, save a checkpoint, exit 130. A second Ctrl-C stops at once (the checkpoint being
        // written stays a hidden temporary folder, never taken for a checkpoint).
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = !cancel.IsCancellationRequested;
            if (e.Cancel) Console.Error.WriteLine("stopping after this step (Ctrl-C again to stop at once)");
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        int steps = options.Trainer.MaxSteps;
        try
        {
            TrainingRunResult? result = null;
            var callbacks = new TrainingRunCallbacks
            {
                Cancel = cancel.Token,
                Log = line => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]"),
                OnStart = (method, data) => AnsiConsole.MarkupLine(
                    $"{Markup.Escape(method.DisplayName)} on {data.Count} {data.Noun} from {Markup.Escape(options.Dataset!)}, "
                    + $"{steps} steps of {options.Trainer.BatchSize}."),
            };
            if (Console.IsOutputRedirected)
                result = TrainingRun.Run(options, callbacks with
                {
                    OnStep = m => Console.WriteLine($"step {m.Step}/{steps} epoch {m.Epoch:F2} loss {m.Loss:F4} lr {m.LearningRate:G3} "
                        + $"grad_norm {m.GradNorm:F3} {m.TokensPerSecond:F0} tokens/s"
                        + (m.Objective.TryGetValue("eval_loss", out var e) ? $" eval_loss {e:F4}" : "")),
                });
            else
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask(options.Method, maxValue: steps);
                        result = TrainingRun.Run(options, callbacks with
                        {
                            OnStep = m =>
                            {
                                task.Description = $"step {m.Step} epoch {m.Epoch:F2} loss {m.Loss:F3} lr {m.LearningRate:G2} "
                                    + $"{m.TokensPerSecond:F0} tok/s";
                                task.Value = m.Step;
                            },
                        });
                    });
            if (result!.Interrupted)
            {
                AnsiConsole.MarkupLine(result.History.Count == 0
                    ? "Interrupted before the first step ended; nothing was saved."
                        + (result.LastCheckpoint is null ? ""
                            : $" The run stands at {Markup.Escape(result.LastCheckpoint)}; continue with --resume.")
                    : $"Interrupted: saved {Markup.Escape(result.LastCheckpoint!)}; continue with --resume.");
                return 130;
            }
            if (result.FinishedFrom is not null)
            {
                AnsiConsole.MarkupLine($"Nothing left to train: {Markup.Escape(result.FinishedFrom)} is at --max-steps {steps}; "
                    + $"wrote the final model to [bold]{Markup.Escape(result.Output)}[/] from it.");
                return 0;
            }
            var h = result.History;
            AnsiConsole.MarkupLine($"Loss {h[0].Loss:F4} → {h[^1].Loss:F4}. "
                + $"Saved to [bold]{Markup.Escape(result.Output)}[/] with metrics.jsonl "
                + $"(draw it: iftsharp plot {Markup.Escape(result.Output)}).");
            return 0;
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    private static string Describe(SettingInfo s, object? value) =>
        s.IsSwitch || value is null ? s.Help + "." : $"{s.Help} (default {s.Format(value)}).";

    /// <summary>A method setting's help: what it means for each method that has it, and each one's default.</summary>
    private static string DescribeMethodSetting(SettingInfo s, IReadOnlyList<ITrainingMethod> methods)
    {
        var groups = methods.GroupBy(m => MethodRegistry.SettingsOf(m).First(x => x.Name == s.Name).Help);
        return string.Join("; ", groups.Select(g =>
        {
            var defaults = g.Select(m => s.IsSwitch
                ? m.Name
                : $"{m.Name} {s.Format(MethodRegistry.SettingsOf(m).First(x => x.Name == s.Name).Get(m.Defaults))}");
            return $"{g.Key} ({string.Join(", ", defaults)})";
        })) + ".";
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using IftSharp.Benchmarking;
using IftSharp.Core;
using Spectre.Console;
using static TorchSharp.torch;

namespace IftSharp.Cli.Commands;

/// <summary>
/// <c>iftsharp bench --model-config FILE</c>: the real-shape mode of <c>bench</c> (memory and speed of real training
/// steps at a real model's shape, <see cref="RealShapeBenchmark"/>). Its options sit beside the default run's; when
/// <c>--model-config</c> is given, this mode runs instead.
/// </summary>
public sealed class BenchModelConfig
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private readonly Option<string?> config = new("--model-config")
    {
        Description = "Real-shape mode: train on a random-weight checkpoint of this config.json's shape and report peak memory, "
            + "seconds per step and tokens/s (each method in a child process of its own).",
    };
    private readonly Option<string> methods = new("--method")
    {
        Description = "Real-shape mode: the methods, comma-separated (sft, ift, dpo; any single-target or pairwise method).",
        DefaultValueFactory = _ => "sft",
    };
    private readonly Option<int> batch = new Option<int>("--batch")
    {
        Description = "Real-shape mode: sequences (pairs for DPO) per step.", DefaultValueFactory = _ => 4,
    }.AtLeast(1);
    private readonly Option<int> length = new Option<int>("--length")
    {
        Description = "Real-shape mode: tokens per sequence.", DefaultValueFactory = _ => 512,
    }.AtLeast(RealShapeRun.PromptTokens + 2);
    private readonly Option<int> steps = new Option<int>("--steps")
    {
        Description = "Real-shape mode: optimizer steps (seconds per step: the median after the first).", DefaultValueFactory = _ => 3,
    }.AtLeast(1);
    private readonly Option<bool> bf16 = new("--bf16") { Description = "Real-shape mode: train with --bf16." };
    private readonly Option<int> loraR = new Option<int>("--lora-r")
    {
        Description = "Real-shape mode: LoRA of this rank on all linear projections (0: full fine-tuning).",
    }.AtLeast(0);
    private readonly Option<bool> checkpointing = new("--gradient-checkpointing")
    {
        Description = "Real-shape mode: train with --gradient-checkpointing.",
    };
    private readonly Option<int?> chunk = new Option<int?>("--logits-chunk")
    {
        Description = "Real-shape mode: train with --logits-chunk N (the LM-head loss N positions at a time).",
    }.AtLeast(1);
    private readonly Option<string> checkpointDtype = new("--checkpoint-dtype")
    {
        Description = "Real-shape mode: dtype of the random checkpoint written to disk, float32 or bf16.",
        DefaultValueFactory = _ => "float32",
    };
    private readonly Option<string?> cache = new("--cache")
    {
        Description = "Real-shape mode: folder for the random checkpoints (default: iftsharp-real-shape in the temporary folder).",
    };
    private readonly Option<bool> deleteCheckpoint = new("--delete-checkpoint")
    {
        Description = "Real-shape mode: remove the random checkpoint afterwards (a 7B one is 14.5 GB in bf16).",
    };
    private readonly Option<double?> memoryLimit = new("--memory-limit")
    {
        Description = "Real-shape mode: stop a configuration whose resident memory passes this many GiB (default: the machine's "
            + "available memory less 1.5 GiB).",
    };
    private readonly Option<bool> noPyTorch = new("--no-pytorch") { Description = "Real-shape mode: skip the PyTorch eager script." };
    private readonly Option<bool> noLoad = new("--no-load") { Description = "Real-shape mode: skip the loading measurement." };
    private readonly Option<string?> worker = new("--real-shape-worker") { Hidden = true, Description = "Internal: one configuration." };

    /// <summary>Adds the mode's options to <c>bench</c>.</summary>
    public static BenchModelConfig AddTo(Command command)
    {
        var mode = new BenchModelConfig();
        foreach (var option in new Option[]
                 {
                     mode.config, mode.methods, mode.batch, mode.length, mode.steps, mode.bf16, mode.loraR, mode.checkpointing, mode.chunk,
                     mode.checkpointDtype, mode.cache, mode.deleteCheckpoint, mode.memoryLimit, mode.noPyTorch, mode.noLoad, mode.worker,
                 })
            command.Options.Add(option);
        return mode;
    }

    /// <summary>Whether this invocation is the real-shape mode (or one of its workers).</summary>
    public bool Requested(ParseResult parse) => parse.GetValue(config) is not null || parse.GetValue(worker) is not null;

    /// <summary>Runs the mode: parse, one library call, render.</summary>
    public int Run(ParseResult parse, string output)
    {
        if (parse.GetValue(worker) is string request)
        {
            Console.WriteLine(RealShapeBenchmark.Worker(request));
            return 0;
        }
        var dtype = parse.GetValue(checkpointDtype) switch
        {
            "float32" or "f32" => ScalarType.Float32,
            "bf16" or "bfloat16" => ScalarType.BFloat16,
            var other => throw new InputException($"--checkpoint-dtype: {other}; expected float32 or bf16"),
        };
        if (parse.GetValue(memoryLimit) is double gib && !(gib > 0))
            throw new InputException($"--memory-limit: {gib.ToString(CultureInfo.InvariantCulture)}; expected a number of GiB > 0");
        var realShape = new RealShapeRequest
        {
            Config = parse.GetValue(config)!,
            Methods = parse.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Batch = parse.GetValue(batch), Length = parse.GetValue(length), Steps = parse.GetValue(steps), Bf16 = parse.GetValue(bf16),
            LoraR = parse.GetValue(loraR), GradientCheckpointing = parse.GetValue(checkpointing), LogitsChunk = parse.GetValue(chunk),
            CheckpointDtype = dtype, CacheDirectory = parse.GetValue(cache) ?? Path.Combine(Path.GetTempPath(), "iftsharp-real-shape"),
            KeepCheckpoint = !parse.GetValue(deleteCheckpoint), MemoryLimitMegabytes = parse.GetValue(memoryLimit) * 1024,
            PyTorch = !parse.GetValue(noPyTorch), MeasureLoading = !parse.GetValue(noLoad), Threads = get_num_threads(),
        };
        AnsiConsole.MarkupLine(Markup.Escape($"Setup: {NativeSetup.Describe()}; malloc: decided in each run from its model's size."));
        var report = RealShapeBenchmark.Run(realShape, Worker, line => AnsiConsole.MarkupLine(Markup.Escape("  " + line)));
        var md = Markdown(report);
        Directory.CreateDirectory(output);
        var name = Path.GetFileNameWithoutExtension(realShape.Config);
        AtomicFile.WriteAllText(Path.Combine(output, $"real-shape-{name}.json"), JsonSerializer.Serialize(report, Json));
        Console.WriteLine(md);
        AnsiConsole.MarkupLine(Markup.Escape($"Wrote {Path.Combine(output, $"real-shape-{name}.json")}."));
        return report.Results.All(r => r.Failure is null) ? 0 : 1;
    }

    /// <summary>This program again, as a real-shape worker with the parent's thread count.</summary>
    private static ProcessStartInfo Worker(string requestJson)
    {
        var path = Environment.ProcessPath!;
        var start = new ProcessStartInfo(path);
        if (Path.GetFileNameWithoutExtension(path) == "dotnet") start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        var threads = get_num_threads().ToString(CultureInfo.InvariantCulture);
        foreach (var a in new[] { "bench", "--real-shape-worker", requestJson, "--threads", threads })
            start.ArgumentList.Add(a);
        return start;
    }

    private static string Markdown(RealShapeReport report)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(c, $"{Path.GetFileNameWithoutExtension(report.Config)}: {report.Parameters / 1e6:F1} M parameters; "
            + $"{report.Threads} threads; malloc: {report.MallocTuning}; memory limit {report.MemoryLimitMegabytes / 1024:F1} GiB"));
        sb.AppendLine();
        sb.AppendLine("| method | pieces | batch × length | trainable (M) | peak RSS (GiB) | with final save | malloc peak (GiB) "
            + "| s/step (first) | tokens/s |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in report.Results)
        {
            var shape = $"{r.Run.Batch} × {r.Run.Length}";
            if (r.Failure is not null)
            {
                sb.AppendLine(string.Create(c, $"| {r.Run.Method} | {r.Run.Pieces} | {shape} | | > {r.PeakResidentMegabytes / 1024:F2} | "
                    + $"{r.Failure} | | | |"));
                continue;
            }
            sb.AppendLine(string.Create(c, $"| {r.Run.Method} | {r.Run.Pieces} | {shape} | {r.TrainableParameters / 1e6:F2} | "
                + $"{r.PeakResidentMegabytes / 1024:F2} | "
                + $"{r.PeakWithSaveMegabytes / 1024:F2} | {r.AllocatedPeakMegabytes / 1024:F2} | "
                + $"{r.SecondsPerStep:F2} ({r.Steps[0].Seconds:F2}) | "
                + $"{r.TokensPerSecond:F0} |"));
        }
        foreach (var p in report.PyTorch)
        {
            sb.AppendLine(p.Failure is not null
                ? $"| {p.Method} (PyTorch eager) | full{(p.Bf16 ? " + bf16" : "")} | | | | {p.Failure} | | | |"
                : string.Create(c, $"| {p.Method} (PyTorch {p.Torch} eager) | full{(p.Bf16 ? " + bf16 autocast" : "")} | | | "
                    + $"{p.PeakResidentMegabytes / 1024:F2} | | | {p.SecondsPerStep:F2} | {p.TokensPerSecond:F0} |"));
        }
        sb.AppendLine();
        foreach (var l in report.Loads)
        {
            sb.AppendLine(string.Create(c, $"- loading in {l.Dtype}: peak {l.PeakMegabytes / 1024:F2} GiB, "
                + $"{l.PeakMegabytes - l.BeforeMegabytes:F0} MiB over the {l.BeforeMegabytes:F0} MiB before it, against "
                + $"{l.ModelMegabytes:F0} MiB of weights: {l.RatioToModel:F3}× ({l.Seconds:F1} s)"));
        }
        foreach (var n in report.Notes) sb.AppendLine($"- {n}");
        return sb.ToString();
    }
}

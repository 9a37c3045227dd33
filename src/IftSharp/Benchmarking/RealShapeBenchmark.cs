using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Training;
using static TorchSharp.torch;

namespace IftSharp.Benchmarking;

/// <summary>One configuration of the real-shape benchmark: a method's training steps at a real model's shape.</summary>
public sealed record RealShapeRun
{
    /// <summary>The published <c>config.json</c> whose shape is measured.</summary>
    public required string Config { get; init; }
    public string Method { get; init; } = "sft";
    /// <summary>Rows per step: sequences (SFT, IFT) or preference pairs (DPO: twice the sequences).</summary>
    public int Batch { get; init; } = 4;
    /// <summary>Tokens of every sequence (each side of a pair), prompt included.</summary>
    public int Length { get; init; } = 512;
    /// <summary>Optimizer steps; the first one pays the warm-up, so seconds per step come from the later ones.</summary>
    public int Steps { get; init; } = 3;
    public bool Bf16 { get; init; }
    /// <summary>LoRA rank, all linear projections (0: full fine-tuning).</summary>
    public int LoraR { get; init; }
    public bool GradientCheckpointing { get; init; }
    /// <summary>Positions per chunk of the LM-head loss (null: the whole logits at once).</summary>
    public int? LogitsChunk { get; init; }

    /// <summary>Prompt tokens of every sequence, masked out of the loss as the readers mask a prompt.</summary>
    public const int PromptTokens = 32;

    /// <summary>How the tables name the memory pieces: <c>full</c>, <c>full + ckpt</c>, <c>LoRA 16 + bf16 + ckpt</c>.</summary>
    public string Pieces => string.Join(" + ", new[]
    {
        LoraR > 0 ? $"LoRA {LoraR}" : "full", Bf16 ? "bf16" : null, GradientCheckpointing ? "ckpt" : null,
        LogitsChunk is int n ? $"chunk {n}" : null,
    }.Where(p => p is not null));

    /// <summary>The dtype the model is loaded in: bfloat16 only for a frozen LoRA base under bf16.</summary>
    public ScalarType LoadedDtype => LoraR > 0 && Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
}

/// <summary>One optimizer step as the worker saw it: the resident peak so far, the resident set and malloc's live bytes
/// after the step, malloc's peak during it, and the resident set once <see cref="LargeAllocations.AfterStep"/> ran.</summary>
public sealed record RealShapeStep(int Step, double Seconds, double PeakResidentMegabytes, double ResidentMegabytes,
    double AllocatedMegabytes, double AllocatedPeakMegabytes, double ResidentAfterTrimMegabytes);

/// <summary>What one configuration measured, or why it has no figures.</summary>
public sealed record RealShapeResult
{
    public required RealShapeRun Run { get; init; }
    public long Parameters { get; init; }
    /// <summary>The parameters the optimizer updates (the adapter's under LoRA).</summary>
    public long TrainableParameters { get; init; }
    /// <summary>Resident memory when the data is read, before the model loads (runtime and libtorch).</summary>
    public double BeforeLoadMegabytes { get; init; }
    public IReadOnlyList<RealShapeStep> Steps { get; init; } = [];
    /// <summary>The process's resident peak (VmHWM) at the end of the last step: loading and every step.</summary>
    public double PeakResidentMegabytes { get; init; }
    /// <summary>The resident peak once the run's final save is done too.</summary>
    public double PeakWithSaveMegabytes { get; init; }
    /// <summary>The most bytes malloc had handed out at once, over the steps.</summary>
    public double AllocatedPeakMegabytes { get; init; }
    /// <summary>Median of the steps after the first (the first alone with one step).</summary>
    public double SecondsPerStep { get; init; }
    public long TokensPerStep { get; init; }
    public double TokensPerSecond => SecondsPerStep > 0 ? TokensPerStep / SecondsPerStep : 0;
    /// <summary>Whether <c>Core/LargeAllocations</c>' tuning was on, and how.</summary>
    public string? MallocTuning { get; init; }
    /// <summary>Seconds spent giving freed pages back after the steps (<c>IFTSHARP_MALLOC_TUNING=trim</c>).</summary>
    public double TrimSeconds { get; init; }
    /// <summary>Why there are no figures: the memory guard stopped it, or the worker failed (its last error line).</summary>
    public string? Failure { get; init; }
}

/// <summary>Loading a checkpoint: the process's resident peak against the model's size in the loaded dtype.</summary>
public sealed record LoadMeasurement(string Dtype, double ModelMegabytes, double BeforeMegabytes, double PeakMegabytes, double Seconds)
{
    /// <summary>What loading added to the process, against the model's size (the goal: at most 1.1).</summary>
    public double RatioToModel => (PeakMegabytes - BeforeMegabytes) / ModelMegabytes;
}

/// <summary>The same step of the independent PyTorch eager script (<c>bench/pytorch_real_shape.py</c>), or why not.</summary>
public sealed record PyTorchMeasurement(string Method, bool Bf16, double SecondsPerStep, double TokensPerSecond,
    double PeakResidentMegabytes, string? Torch, string? Failure);

/// <summary>What <c>iftsharp bench --model-config</c> asks for: one shape, one or more methods, one set of pieces.</summary>
public sealed record RealShapeRequest
{
    public required string Config { get; init; }
    public IReadOnlyList<string> Methods { get; init; } = ["sft"];
    public int Batch { get; init; } = 4;
    public int Length { get; init; } = 512;
    public int Steps { get; init; } = 3;
    public bool Bf16 { get; init; }
    public int LoraR { get; init; }
    public bool GradientCheckpointing { get; init; }
    public int? LogitsChunk { get; init; }
    /// <summary>The dtype of the random checkpoint on disk (bfloat16 halves a 7B model's 29 GB).</summary>
    public ScalarType CheckpointDtype { get; init; } = ScalarType.Float32;
    public required string CacheDirectory { get; init; }
    /// <summary>Whether to keep the random checkpoint after the run (a 7B one is 14.5 GB in bfloat16).</summary>
    public bool KeepCheckpoint { get; init; } = true;
    /// <summary>A child whose resident set passes this is stopped (null: the machine's available memory less a reserve).</summary>
    public double? MemoryLimitMegabytes { get; init; }
    /// <summary>Run the PyTorch script beside IftSharp's step when Python has torch (full fine-tuning only).</summary>
    public bool PyTorch { get; init; } = true;
    public bool MeasureLoading { get; init; } = true;
    public int Threads { get; init; } = 1;

    public RealShapeRun RunOf(string method) => new()
    {
        Config = Config, Method = method, Batch = Batch, Length = Length, Steps = Steps, Bf16 = Bf16, LoraR = LoraR,
        GradientCheckpointing = GradientCheckpointing, LogitsChunk = LogitsChunk,
    };
}

/// <summary>Everything one <c>bench --model-config</c> run measured.</summary>
public sealed record RealShapeReport(string Config, long Parameters, string Checkpoint, double MemoryLimitMegabytes,
    string MallocTuning, int Threads, IReadOnlyList<LoadMeasurement> Loads, IReadOnlyList<RealShapeResult> Results,
    IReadOnlyList<PyTorchMeasurement> PyTorch, IReadOnlyList<string> Notes);

/// <summary>
/// <c>iftsharp bench --model-config FILE</c>: a method's real training steps at a real model's shape. A random-weight
/// checkpoint of the config is written once (<see cref="RandomCheckpoint"/>, cached), then every configuration runs in a
/// child process of its own, so its peak resident memory is its own, under a memory guard
/// (<see cref="MeasuredProcess"/>): the steps go through <see cref="TrainingRun"/> and the <see cref="Trainer"/> loop,
/// exactly as <c>iftsharp train</c> runs them, on random text of the method's shape read through the method's own
/// reader. Loading is measured in a child of its own, against the model's size in the loaded dtype; the same step of an
/// independent PyTorch eager script runs beside it when Python has torch.
/// </summary>
public static class RealShapeBenchmark
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    public const string PyTorchScript = "bench/pytorch_real_shape.py";
    private const string Python = "/usr/bin/python3";

    /// <summary>
    /// Runs the request: <paramref name="worker"/> makes the command line that starts this program's worker with a
    /// request in JSON (see <see cref="Worker"/>); <paramref name="log"/> receives progress lines.
    /// </summary>
    public static RealShapeReport Run(RealShapeRequest request, Func<string, ProcessStartInfo> worker, Action<string> log)
    {
        Validate(request);
        var config = DecoderConfig.Load(request.Config);
        long parameters = LlamaForCausalLM.ParameterCount(config);
        double limit = request.MemoryLimitMegabytes
            ?? Math.Max(1024, ProcessMemory.AvailableMegabytes() - 2 * MeasuredProcess.ReserveMegabytes);
        var notes = new List<string>();
        var checkpoint = RandomCheckpoint.Cached(request.Config, request.CheckpointDtype, request.CacheDirectory, log);
        try
        {
            var runs = request.Methods.Select(request.RunOf).ToList();
            var loads = new List<LoadMeasurement>();
            if (request.MeasureLoading)
            {
                foreach (var dtype in runs.Select(r => r.LoadedDtype).Distinct())
                {
                    log($"loading {Path.GetFileName(checkpoint)} in {RandomCheckpoint.DtypeTag(dtype)} ...");
                    var exit = MeasuredProcess.Run(worker(WorkerJson("load", null, checkpoint, dtype)), limit);
                    if (exit.JsonLine is string line && exit.ExitCode == 0 && exit.StoppedBecause is null)
                        loads.Add(JsonSerializer.Deserialize<LoadMeasurement>(line)!);
                    else notes.Add($"loading in {RandomCheckpoint.DtypeTag(dtype)}: {FailureOf(exit)}");
                }
            }
            var results = new List<RealShapeResult>();
            foreach (var run in runs)
            {
                log($"{run.Method}, {run.Pieces}, batch {run.Batch} × {run.Length}, {run.Steps} steps ...");
                var scratch = Path.Combine(request.CacheDirectory, $".run-{Environment.ProcessId}-{run.Method}");
                try
                {
                    var exit = MeasuredProcess.Run(worker(WorkerJson("train", run, checkpoint, run.LoadedDtype, scratch)), limit);
                    if (exit.JsonLine is string line && exit.ExitCode == 0 && exit.StoppedBecause is null)
                        results.Add(JsonSerializer.Deserialize<RealShapeResult>(line)!);
                    else results.Add(new RealShapeResult
                    {
                        Run = run, Parameters = parameters, PeakResidentMegabytes = exit.PeakResidentMegabytes, Failure = FailureOf(exit),
                    });
                }
                finally
                {
                    if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
                }
            }
            var pytorch = new List<PyTorchMeasurement>();
            if (request.PyTorch)
            {
                if (request.LoraR > 0 || request.GradientCheckpointing || request.LogitsChunk is not null)
                    notes.Add("PyTorch: the script measures full fine-tuning only (no LoRA, checkpointing or chunked loss)");
                else if (PyTorchUnavailable() is string why) notes.Add($"PyTorch: not measured ({why})");
                else
                {
                    foreach (var run in runs)
                    {
                        log($"PyTorch eager: {run.Method}, {run.Pieces}, batch {run.Batch} × {run.Length} ...");
                        pytorch.Add(RunPyTorch(run, request.Threads, limit));
                    }
                }
            }
            // Each child decides its own malloc mode from the model it trains (Core/LargeAllocations): report theirs.
            var malloc = results.Select(r => r.MallocTuning).OfType<string>().Distinct().ToList();
            return new RealShapeReport(request.Config, parameters, checkpoint, limit,
                malloc.Count > 0 ? string.Join("; ", malloc) : LargeAllocations.Describe(), request.Threads, loads, results, pytorch,
                notes);
        }
        finally
        {
            if (!request.KeepCheckpoint && Directory.Exists(checkpoint)) Directory.Delete(checkpoint, recursive: true);
        }
    }

    private static void Validate(RealShapeRequest request)
    {
        if (!File.Exists(request.Config)) throw new InputException($"--model-config: {request.Config}: file not found");
        foreach (var name in request.Methods)
        {
            var method = MethodRegistry.Get(name);
            if (method.Shape is not (DataShape.SingleTarget or DataShape.PreferencePairs))
                throw new InputException($"--method: {name} reads {method.Shape} data; the real-shape bench measures single-target "
                    + "methods (sft, ift) and preference-pair methods (dpo, ipo, orpo, simpo, exo)");
        }
        if (request.Length <= RealShapeRun.PromptTokens + 1)
            throw new InputException($"--length: {request.Length}; expected more than {RealShapeRun.PromptTokens + 1} "
                + $"(a {RealShapeRun.PromptTokens}-token prompt, a completion and its end token)");
    }

    private static string WorkerJson(string kind, RealShapeRun? run, string checkpoint, ScalarType dtype, string? scratch = null) =>
        new JsonObject
        {
            ["kind"] = kind, ["run"] = run is null ? null : JsonSerializer.SerializeToNode(run, Json), ["checkpoint"] = checkpoint,
            ["dtype"] = RandomCheckpoint.DtypeTag(dtype), ["scratch"] = scratch,
        }.ToJsonString();

    private static string FailureOf(MeasuredExit exit)
    {
        if (exit.StoppedBecause is string stopped) return $"stopped: {stopped}";
        if (exit.ExitCode == 137 || exit.ExitCode == -9) return "killed (exit 137: the kernel's OOM killer?)";
        var last = (exit.Stderr + "\n" + exit.Stdout).Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.Length > 0) ?? "";
        return $"exit code {exit.ExitCode}: {last}";
    }

    /// <summary>
    /// The child's side: runs what <paramref name="requestJson"/> asks (<c>train</c>: one configuration's steps through
    /// <see cref="TrainingRun"/>; <c>load</c>: loading the checkpoint) and returns its JSON line.
    /// </summary>
    public static string Worker(string requestJson)
    {
        var request = JsonNode.Parse(requestJson)!.AsObject();
        var checkpoint = request["checkpoint"]!.GetValue<string>();
        var dtype = request["dtype"]!.GetValue<string>() == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
        return request["kind"]!.GetValue<string>() switch
        {
            "load" => JsonSerializer.Serialize(Load(checkpoint, dtype), Json),
            "train" => JsonSerializer.Serialize(Train(request["run"].Deserialize<RealShapeRun>(Json)!, checkpoint,
                request["scratch"]!.GetValue<string>()), Json),
            var other => throw new ArgumentException($"unknown real-shape worker kind {other}"),
        };
    }

    /// <summary>Loads <paramref name="checkpoint"/> in <paramref name="dtype"/> and measures what it cost.</summary>
    public static LoadMeasurement Load(string checkpoint, ScalarType dtype)
    {
        double before = ProcessMemory.Own("VmRSS");
        var clock = Stopwatch.StartNew();
        long count;
        using (var model = LlamaForCausalLM.FromPretrained(checkpoint, dtype))
            count = model.parameters().Sum(p => p.numel());
        double seconds = clock.Elapsed.TotalSeconds;
        double bytes = count * (dtype == ScalarType.BFloat16 ? 2.0 : 4.0);
        return new LoadMeasurement(RandomCheckpoint.DtypeTag(dtype), bytes / 1048576.0, before, ProcessMemory.Own("VmHWM"), seconds);
    }

    /// <summary>
    /// One configuration's steps through <see cref="TrainingRun"/>, on random text written to <paramref name="scratch"/>
    /// (the dataset, then the run's output folder, which the caller removes).
    /// </summary>
    public static RealShapeResult Train(RealShapeRun run, string checkpoint, string scratch)
    {
        var method = MethodRegistry.Get(run.Method);
        Directory.CreateDirectory(scratch);
        var dataset = Path.Combine(scratch, "data.jsonl");
        WriteDataset(method, run, dataset);
        double beforeLoad = 0;
        long trainable = 0;
        double trimSeconds = 0;
        var steps = new List<RealShapeStep>();
        using var allocated = new AllocatorPeak();
        var options = new TrainingRunOptions
        {
            Method = run.Method, Model = checkpoint, Dataset = dataset, Output = Path.Combine(scratch, "output"), MaxLength = run.Length,
            Bf16 = run.Bf16, PrecomputeReferenceLogps = method.SupportsPrecomputedReference && run.LoraR == 0,
            Trainer = new TrainerOptions
            {
                LearningRate = 1e-5, MaxSteps = run.Steps, BatchSize = run.Batch, WarmupRatio = 0, Scheduler = ScheduleKind.Constant,
                SaveSteps = 0,
            },
        };
        options = WithMemoryPieces(options, run);
        TrainingRun.Run(options, new TrainingRunCallbacks
        {
            OnStart = (_, _) => { beforeLoad = ProcessMemory.Own("VmRSS"); allocated.Reset(); },
            OnSession = session => trainable = session.TrainableParameters.Sum(p => p.numel()),
            OnStep = m =>
            {
                double peak = ProcessMemory.Own("VmHWM"), resident = ProcessMemory.Own("VmRSS"), live = AllocatorPeak.Now();
                // Trainer does not call it (yet): the trim mode is measured here, right after the optimizer step.
                var trim = Stopwatch.StartNew();
                LargeAllocations.AfterStep();
                trimSeconds += trim.Elapsed.TotalSeconds;
                steps.Add(new RealShapeStep(m.Step, m.Seconds, peak, resident, live, allocated.Peak, ProcessMemory.Own("VmRSS")));
                allocated.Reset();
            },
            Log = line => Console.Error.WriteLine(line),
        });
        var later = steps.Skip(1).Select(s => s.Seconds).Order().ToList();
        return new RealShapeResult
        {
            Run = run, Parameters = LlamaForCausalLM.ParameterCount(DecoderConfig.Load(Path.Combine(checkpoint, "config.json"))),
            TrainableParameters = trainable, BeforeLoadMegabytes = beforeLoad, Steps = steps,
            PeakResidentMegabytes = steps[^1].PeakResidentMegabytes,
            PeakWithSaveMegabytes = ProcessMemory.Own("VmHWM"), AllocatedPeakMegabytes = steps.Max(s => s.AllocatedPeakMegabytes),
            SecondsPerStep = later.Count > 0 ? later[later.Count / 2] : steps[0].Seconds,
            TokensPerStep = (long)run.Batch * run.Length * (method.Shape == DataShape.PreferencePairs ? 2 : 1),
            MallocTuning = LargeAllocations.Describe(), TrimSeconds = trimSeconds,
        };
    }

    /// <summary>LoRA, checkpointing and the chunked loss, as <c>train</c>'s flags set them.</summary>
    private static TrainingRunOptions WithMemoryPieces(TrainingRunOptions options, RealShapeRun run) => options with
    {
        LoraR = run.LoraR > 0 ? run.LoraR : null,
        LoraTargetModules = Models.Lora.LoraConfig.AllLinear,
        GradientCheckpointing = run.GradientCheckpointing,
        LogitsChunk = run.LogitsChunk,
    };

    /// <summary>
    /// Random text of the method's shape whose every sequence is exactly <see cref="RealShapeRun.Length"/> tokens under the
    /// checkpoint's byte-level tokenizer: a <see cref="RealShapeRun.PromptTokens"/>-letter prompt, then letters and the
    /// end token. Plain strings, no chat template, so the readers' prompt rule masks exactly the prompt. Distinct rows for
    /// every step; the same seed gives the same file.
    /// </summary>
    public static void WriteDataset(ITrainingMethod method, RealShapeRun run, string path, int seed = 1)
    {
        var rng = new Random(seed);
        string Letters(int n)
        {
            var chars = new char[n];
            for (int i = 0; i < n; i++) chars[i] = (char)('a' + rng.Next(26));
            return new string(chars);
        }
        int completion = run.Length - RealShapeRun.PromptTokens - 1;
        var sb = new StringBuilder();
        for (int row = 0; row < run.Batch * run.Steps; row++)
        {
            var line = new JsonObject { ["prompt"] = Letters(RealShapeRun.PromptTokens) };
            if (method.Shape == DataShape.PreferencePairs)
            {
                line["chosen"] = Letters(completion);
                line["rejected"] = Letters(completion);
            }
            else line["completion"] = Letters(completion);
            sb.Append(line.ToJsonString()).Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    /// <summary>Why the PyTorch script cannot run here, or null when it can.</summary>
    private static string? PyTorchUnavailable()
    {
        if (!File.Exists(Python)) return $"no {Python}";
        if (!File.Exists(PyTorchScript)) return $"no {PyTorchScript} under the current folder";
        var check = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-c", "import torch" }) check.ArgumentList.Add(a);
        using var process = Process.Start(check)!;
        process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? null : $"{Python} -c 'import torch' failed";
    }

    private static PyTorchMeasurement RunPyTorch(RealShapeRun run, int threads, double limit)
    {
        var start = new ProcessStartInfo(Python);
        var c = CultureInfo.InvariantCulture;
        foreach (var a in new[]
                 {
                     PyTorchScript, "--config", run.Config, "--method", run.Method, "--batch", run.Batch.ToString(c),
                     "--length", run.Length.ToString(c), "--steps", run.Steps.ToString(c), "--threads", threads.ToString(c),
                 })
            start.ArgumentList.Add(a);
        if (run.Bf16) start.ArgumentList.Add("--bf16");
        var exit = MeasuredProcess.Run(start, limit);
        if (exit.JsonLine is not string line || exit.ExitCode != 0 || exit.StoppedBecause is not null)
            return new PyTorchMeasurement(run.Method, run.Bf16, 0, 0, exit.PeakResidentMegabytes, null, FailureOf(exit));
        var r = JsonNode.Parse(line)!;
        return new PyTorchMeasurement(run.Method, run.Bf16, r["median_step_seconds"]!.GetValue<double>(),
            r["tokens_per_second"]!.GetValue<double>(), r["peak_rss_mib"]!.GetValue<double>(), r["torch"]?.GetValue<string>(), null);
    }
}

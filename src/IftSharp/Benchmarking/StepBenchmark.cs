using System.Diagnostics;
using IftSharp.Core;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Training;
using IftSharp.Training.Optimizers;
using static TorchSharp.torch;

namespace IftSharp.Benchmarking;

/// <summary>The fixed benchmark model and batch (README, Performance).</summary>
public sealed record BenchmarkShape
{
    public int Layers { get; init; } = 4;
    public int Hidden { get; init; } = 256;
    public int Heads { get; init; } = 4;
    public int Intermediate { get; init; } = 688;
    public int Vocab { get; init; } = 4096;
    public int Sequence { get; init; } = 256;
    public int Batch { get; init; } = 8;
    /// <summary>Prompt tokens per sequence, masked out of the loss.</summary>
    public int Prompt { get; init; } = 32;
    /// <summary>Untimed steps first (at least 1: the raw step starts after them).</summary>
    public int Warmup { get; init; } = 2;
    public int Repeats { get; init; } = 5;

    public DecoderConfig Config => new()
    {
        ModelType = "llama", HiddenSize = Hidden, IntermediateSize = Intermediate, NumHiddenLayers = Layers,
        NumAttentionHeads = Heads, NumKeyValueHeads = Heads, VocabSize = Vocab, MaxPositionEmbeddings = Sequence * 4,
        TieWordEmbeddings = true, RmsNormEps = 1e-5,
    };

    /// <summary>
    /// Matmul FLOPs of one SFT step (forward + backward ≈ 3× forward), PaLM's accounting: 6·N + 12·L·d·T per token.
    /// </summary>
    public double SftStepFlops() => Tokens * 3 * ForwardFlopsPerToken;

    /// <summary>
    /// Matmul FLOPs of one step of a benchmark entry: SFT's; twice the rows for <c>sft-2x</c> and the preference methods
    /// (their reference log-probs are precomputed, so no reference pass); IFT adds its no-grad first pass, one forward
    /// (2·N + 4·L·d·T per token), so 4/3 of SFT. bf16 steps do the same products.
    /// </summary>
    public double StepFlops(string entry)
    {
        var name = entry.EndsWith("-bf16", StringComparison.Ordinal) ? entry[..^5] : entry;
        if (name == "ift") return Tokens * 4 * ForwardFlopsPerToken;
        var method = MethodRegistry.All.FirstOrDefault(m => m.Name == name);
        bool doubled = name.EndsWith("-2x", StringComparison.Ordinal) || method?.Shape == DataShape.PreferencePairs;
        return (doubled ? 2 : 1) * SftStepFlops();
    }

    private double Tokens => (double)Batch * Sequence;

    private double ForwardFlopsPerToken =>
        2 * (Layers * (4.0 * Hidden * Hidden + 3.0 * Hidden * Intermediate) + (double)Vocab * Hidden) + 4.0 * Layers * Hidden * Sequence;
}

/// <summary>
/// One method's measured optimizer steps: the trainer's (from one step's end to the next, so the loop's own work and
/// its metrics log count) and, for the methods <see cref="RawStep"/> covers, the raw step's, timed between them.
/// </summary>
public sealed record StepMeasurement(string Method, double MedianSeconds, double MinSeconds, double TokensPerSecond,
    double PeakResidentMegabytes)
{
    /// <summary>The raw step's median (null where the method has none).</summary>
    public double? RawMedianSeconds { get; init; }
    public double? RawMinSeconds { get; init; }
    /// <summary>Matmul FLOPs of one step (<see cref="BenchmarkShape.StepFlops"/>).</summary>
    public double Flops { get; init; }
    /// <summary>Whether MKL's vendor check was answered in the worker (<see cref="MklVendorCheck.State"/>).</summary>
    public string? VendorCheck { get; init; }

    /// <summary>The trainer's step over the raw one, less 1 (0.05: 5 % slower).</summary>
    public double? Gap => RawMedianSeconds is double raw ? MedianSeconds / raw - 1 : null;
}

/// <summary>GEMM peaks of one process, GFLOP/s, and whether MKL's vendor check was answered in it.</summary>
public sealed record MatmulPeak(double Float32, double BFloat16, string VendorCheck);

/// <summary>
/// Times the trainer's own optimizer steps (forward, objective, backward, clipping, AdamW, metrics — the
/// <see cref="Trainer"/> loop <c>train</c> runs) of every registered method on the benchmark model, on random data of the
/// method's shape. Pairwise methods take <see cref="BenchmarkShape.Batch"/> pairs, twice SFT's sequences, with
/// reference log-probs precomputed (as <c>--precompute-ref-logps</c> does), so their ratio to SFT is "per pair".
/// </summary>
public static class StepBenchmark
{
    private const string Bf16Suffix = "-bf16";

    /// <summary>The method every ratio is taken against.</summary>
    public static string Baseline => MethodRegistry.All[0].Name;

    /// <summary>The baseline on twice the rows, the same tokens as a preference step: the share of a preference step's cost
    /// that comes from the model at 2B rows rather than from the objective.</summary>
    public static string Doubled => Baseline + "-2x";

    /// <summary>The single-target methods, measured in bfloat16 mixed precision too.</summary>
    public static IReadOnlyList<string> Bf16Methods { get; } =
        MethodRegistry.All.Where(m => m.Shape == DataShape.SingleTarget).Select(m => m.Name).ToList();

    public static string Bf16(string method) => method + Bf16Suffix;

    /// <summary>The methods trained on preference pairs (their steps are compared with <see cref="Doubled"/>).</summary>
    public static IReadOnlyList<string> PairwiseMethods { get; } =
        MethodRegistry.All.Where(m => m.Shape == DataShape.PreferencePairs).Select(m => m.Name).ToList();

    /// <summary>Every registered method, then <see cref="Doubled"/> and the bf16 steps.</summary>
    public static IReadOnlyList<string> Methods { get; } = [.. MethodRegistry.Names, Doubled, .. Bf16Methods.Select(Bf16)];

    public static StepMeasurement Run(string name, BenchmarkShape shape)
    {
        if (shape.Warmup < 1 || shape.Repeats < 1)
            throw new ArgumentException("the benchmark needs a warm-up step and a timed one", nameof(shape));
        LargeAllocations.Apply();
        bool bf16 = name.EndsWith(Bf16Suffix, StringComparison.Ordinal);
        var method = MethodRegistry.Get(bf16 ? name[..^Bf16Suffix.Length] : name == Doubled ? Baseline : name);
        int items = name == Doubled ? 2 * shape.Batch : shape.Batch;
        var data = method.Synthetic(new SyntheticRequest(items, shape.Sequence, shape.Prompt, shape.Vocab));
        using var master = ModelFactory.CreateFromConfig(shape.Config, seed: 0);
        using var computeCopy = bf16 ? ModelFactory.CreateFromConfig(shape.Config, seed: 0) : null;
        var reference = method.NeedsReference ? ModelFactory.CreateFromConfig(shape.Config, seed: 0) : null;
        if (reference is not null) foreach (var p in reference.parameters()) p.requires_grad = false;
        const double learningRate = 1e-5;
        var logFolder = Directory.CreateTempSubdirectory("iftsharp-bench-");
        RawStep? raw = null;
        var trainerSeconds = new List<double>();
        var rawSeconds = new List<double>();
        double peakResident = 0;
        var clock = Stopwatch.StartNew();
        // Steps alternate, trainer then raw, so a slow spell of the shared machine hits both. A trainer step is timed from
        // the end of the previous one to its OnStep: the loop's bookkeeping and its metrics.jsonl line count, as in train.
        void AfterTrainerStep(StepMetrics m)
        {
            if (m.Step > shape.Warmup) trainerSeconds.Add(clock.Elapsed.TotalSeconds);
            if (m.Step == shape.Warmup)
            {
                peakResident = PeakResidentMegabytes(); // the trainer's own, before the raw step allocates its optimizer
                if (RawStep.Covers(method.Name))
                {
                    raw = new RawStep(method.Name, master, computeCopy, data, learningRate);
                    for (int w = 0; w < shape.Warmup; w++) raw.Run();
                }
            }
            else if (m.Step > shape.Warmup && raw is not null)
            {
                var rawClock = Stopwatch.StartNew();
                raw.Run();
                rawSeconds.Add(rawClock.Elapsed.TotalSeconds);
            }
            clock.Restart();
        }
        var session = new TrainingSession
        {
            Model = master, ComputeCopy = computeCopy, InitialReference = reference, OwnsReference = true,
            PrecomputeReference = method.SupportsPrecomputedReference, PadId = 0, MaxLength = shape.Sequence, OnStep = AfterTrainerStep,
            Options = new TrainerOptions
            {
                LearningRate = learningRate, MaxSteps = shape.Warmup + shape.Repeats, BatchSize = items, WarmupRatio = 0,
                Scheduler = ScheduleKind.Constant, OutputDirectory = logFolder.FullName,
            },
        };
        IReadOnlyList<StepMetrics> history;
        try { history = method.Train(session, data, null, method.Defaults); }
        finally
        {
            session.ReleaseReference();
            raw?.Dispose();
            logFolder.Delete(recursive: true);
        }
        var times = trainerSeconds.Order().ToList();
        double median = times[times.Count / 2];
        long tokens = (long)(history[^1].TokensPerSecond * history[^1].Seconds);
        var rawTimes = rawSeconds.Order().ToList();
        return new StepMeasurement(name, median, times[0], tokens / median, peakResident)
        {
            RawMedianSeconds = rawTimes.Count == 0 ? null : rawTimes[rawTimes.Count / 2],
            RawMinSeconds = rawTimes.Count == 0 ? null : rawTimes[0],
            Flops = shape.StepFlops(name),
            VendorCheck = MklVendorCheck.State.ToString(),
        };
    }

    /// <summary>The worker name under which <c>bench</c> measures <see cref="MatmulPeak"/> in a process of its own.</summary>
    public const string MatmulWorker = "matmul";

    /// <summary>This process's float32 and bfloat16 GEMM peaks (<see cref="MatmulGflops"/>) and the vendor check's state.</summary>
    public static MatmulPeak MeasureMatmulPeak() =>
        new(MatmulGflops(ScalarType.Float32), MatmulGflops(ScalarType.BFloat16), MklVendorCheck.State.ToString());

    /// <summary>The process's peak resident set (VmHWM), in MiB; 0 where /proc is unavailable.</summary>
    public static double PeakResidentMegabytes() => ProcessMemory.Own("VmHWM");

    /// <summary>
    /// The machine's matmul peak, GFLOP/s: the fastest of 10 products of two n×n matrices. The fastest, not the median,
    /// because a peak is what the hardware can do; at 1024² the median moved between 110 and 170 GFLOP/s with the
    /// machine's other load, while the model's own GEMM shapes reached 175.
    /// </summary>
    public static double MatmulGflops(ScalarType dtype, int n = 2048)
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n).to(dtype);
        var b = randn(n, n).to(dtype);
        for (int i = 0; i < 3; i++) matmul(a, b).Dispose();
        double best = double.MaxValue;
        for (int r = 0; r < 10; r++)
        {
            var clock = Stopwatch.StartNew();
            matmul(a, b).Dispose();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return 2.0 * n * n * n / best / 1e9;
    }

    /// <summary>Generation throughput in new tokens per second (median of 3), greedy, one prompt, with or without the KV cache.</summary>
    public static double GenerationTokensPerSecond(BenchmarkShape shape, bool useCache, int newTokens = 256)
    {
        using var model = ModelFactory.CreateFromConfig(shape.Config, seed: 0);
        var prompt = Enumerable.Range(1, 16).ToList();
        var options = new GenerationOptions { MaxNewTokens = newTokens, UseCache = useCache, Temperature = 0 };
        TokenGenerator.Generate(model, [prompt], options with { MaxNewTokens = 4 }); // warm-up
        var rates = new List<double>();
        for (int r = 0; r < 3; r++)
        {
            var clock = Stopwatch.StartNew();
            var result = TokenGenerator.Generate(model, [prompt], options);
            rates.Add(result.Tokens[0].Count / clock.Elapsed.TotalSeconds);
        }
        rates.Sort();
        return rates[1]; // the median of 3
    }
}

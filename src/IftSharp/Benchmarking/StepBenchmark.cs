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
    public int Warmup { get; init; } = 2;
    public int Repeats { get; init; } = 5;

    public DecoderConfig Config => new()
    {
        ModelType = "llama", HiddenSize = Hidden, IntermediateSize = Intermediate, NumHiddenLayers = Layers,
        NumAttentionHeads = Heads, NumKeyValueHeads = Heads, VocabSize = Vocab, MaxPositionEmbeddings = Sequence * 4,
        TieWordEmbeddings = true, RmsNormEps = 1e-5,
    };

    /// <summary>Matmul FLOPs of one SFT step (forward + backward ≈ 3× forward), PaLM's accounting: 6·N + 12·L·d·T per token.</summary>
    public double SftStepFlops()
    {
        double matmulParams = Layers * (4.0 * Hidden * Hidden + 3.0 * Hidden * Intermediate) + (double)Vocab * Hidden;
        double tokens = (double)Batch * Sequence;
        return tokens * (6 * matmulParams + 12.0 * Layers * Hidden * Sequence);
    }
}

/// <summary>One method's measured optimizer steps.</summary>
public sealed record StepMeasurement(string Method, double MedianSeconds, double MinSeconds, double TokensPerSecond, double PeakResidentMegabytes);

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
        LargeAllocations.KeepPagesAcrossSteps();
        bool bf16 = name.EndsWith(Bf16Suffix, StringComparison.Ordinal);
        var method = MethodRegistry.Get(bf16 ? name[..^Bf16Suffix.Length] : name == Doubled ? Baseline : name);
        int items = name == Doubled ? 2 * shape.Batch : shape.Batch;
        var data = method.Synthetic(new SyntheticRequest(items, shape.Sequence, shape.Prompt, shape.Vocab));
        using var master = ModelFactory.CreateFromConfig(shape.Config, seed: 0);
        using var computeCopy = bf16 ? ModelFactory.CreateFromConfig(shape.Config, seed: 0) : null;
        var reference = method.NeedsReference ? ModelFactory.CreateFromConfig(shape.Config, seed: 0) : null;
        if (reference is not null) foreach (var p in reference.parameters()) p.requires_grad = false;
        var session = new TrainingSession
        {
            Model = master, ComputeCopy = computeCopy, InitialReference = reference, OwnsReference = true,
            PrecomputeReference = method.SupportsPrecomputedReference, PadId = 0, MaxLength = shape.Sequence,
            Options = new TrainerOptions
            {
                LearningRate = 1e-5, MaxSteps = shape.Warmup + shape.Repeats, BatchSize = items, WarmupRatio = 0, Scheduler = ScheduleKind.Constant,
            },
        };
        IReadOnlyList<StepMetrics> history;
        try { history = method.Train(session, data, null, method.Defaults); }
        finally { session.ReleaseReference(); }
        var times = history.Skip(shape.Warmup).Select(m => m.Seconds).Order().ToList();
        double median = times[times.Count / 2];
        long tokens = (long)(history[^1].TokensPerSecond * history[^1].Seconds);
        return new StepMeasurement(name, median, times[0], tokens / median, PeakResidentMegabytes());
    }

    /// <summary>The process's peak resident set (VmHWM), in MiB; 0 where /proc is unavailable.</summary>
    public static double PeakResidentMegabytes()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return 0;
        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
    }

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

using System.Diagnostics;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Objectives;
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
/// Times complete optimizer steps (forward, objective, backward, AdamW) of each method on the benchmark model.
/// Preference methods take a batch of <see cref="BenchmarkShape.Batch"/> pairs, i.e. twice SFT's sequences, with
/// reference log-probs precomputed (as <c>--precompute-ref-logps</c> does), so their ratio to SFT is "per pair".
/// </summary>
public static class StepBenchmark
{
    /// <summary>"sft-2x" is SFT on twice the rows, the same tokens as a preference step: the share of a preference step's cost that comes from the model at 2B rows rather than from the objective.</summary>
    public static readonly string[] Methods = ["sft", "ift", "dpo", "orpo", "exo", "simpo", "sft-2x", "sft-bf16", "ift-bf16"];

    public static StepMeasurement Run(string method, BenchmarkShape shape)
    {
        LargeAllocations.KeepPagesAcrossSteps();
        bool bf16 = method.EndsWith("-bf16", StringComparison.Ordinal);
        bool doubled = method == "sft-2x";
        string objective = bf16 ? method[..^5] : doubled ? "sft" : method;
        using var master = ModelFactory.CreateFromConfig(shape.Config, seed: 0);
        using var computeCopy = bf16 ? ModelFactory.CreateFromConfig(shape.Config, seed: 0) : null;
        var model = computeCopy ?? master;
        var shadow = bf16 ? new Bf16Shadow(master, model) : null;
        var optimizer = new AdamWOptimizer(master.parameters(), lr: 1e-5);
        using var frozen = new FrozenEmbeddingCopy(model);
        var generator = new TorchSharp.torch.Generator(1);
        bool pairs = objective is not ("sft" or "ift") || doubled;
        int rows = pairs ? 2 * shape.Batch : shape.Batch;
        var ids = randint(0, shape.Vocab, new long[] { rows, shape.Sequence }, generator: generator).DetachFromDisposeScope();
        var labels = ids.clone().DetachFromDisposeScope();
        using (no_grad()) labels.narrow(1, 0, shape.Prompt).FillInPlace(TokenLogProbs.IgnoreIndex);
        var referenceSums = (-randn(rows, generator: generator).abs()).Times(100).Minus(500).DetachFromDisposeScope(); // stands for precomputed log-probs

        var times = new List<double>();
        for (int i = 0; i < shape.Warmup + shape.Repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            using (var scope = NewDisposeScope())
            {
                shadow?.PullWeights();
                optimizer.zero_grad();
                var loss = Loss(objective, model, ids, labels, referenceSums, shape.Batch, frozen);
                loss.backward();
                shadow?.PushGradients();
                optimizer.step();
                if (objective == "ift") frozen.Sync(model);
            }
            if (i >= shape.Warmup) times.Add(clock.Elapsed.TotalSeconds);
        }
        times.Sort();
        double median = times[times.Count / 2];
        ids.Dispose(); labels.Dispose(); referenceSums.Dispose();
        return new StepMeasurement(method, median, times[0], rows * (double)shape.Sequence / median, PeakResidentMegabytes());
    }

    private static Tensor Loss(string method, LlamaForCausalLM model, Tensor ids, Tensor labels, Tensor referenceSums, int pairs, FrozenEmbeddingCopy frozen)
    {
        if (method == "ift") return IftForward.Loss(model, ids, labels, null, new IftOptions(), frozen).Loss;
        var (logps, mask) = TokenLogProbs.Gather(model.Forward(ids), labels);
        if (method == "sft") return Sft.Loss(logps, mask).Loss;
        var chosen = SequenceLogps.From(logps.narrow(0, 0, pairs), mask.narrow(0, 0, pairs));
        var rejected = SequenceLogps.From(logps.narrow(0, pairs, pairs), mask.narrow(0, pairs, pairs));
        var refChosen = new SequenceLogps(referenceSums.narrow(0, 0, pairs), chosen.Length);
        var refRejected = new SequenceLogps(referenceSums.narrow(0, pairs, pairs), rejected.Length);
        return method switch
        {
            "dpo" => Dpo.Loss(chosen, rejected, refChosen, refRejected, new DpoOptions()).Loss,
            "orpo" => Orpo.Loss(chosen, rejected, Sft.Loss(logps.narrow(0, 0, pairs), mask.narrow(0, 0, pairs)).Loss, new OrpoOptions()).Loss,
            "exo" => Exo.PairLoss(chosen, rejected, refChosen, refRejected, new ExoOptions()).Loss,
            "simpo" => SimPo.Loss(chosen, rejected, new SimPoOptions()).Loss,
            _ => throw new ArgumentException($"unknown method '{method}'; expected one of {string.Join(", ", Methods)}"),
        };
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

using System.Diagnostics;
using IftSharp.Models;
using static TorchSharp.torch;

namespace IftSharp.Benchmarking;

/// <summary>
/// Batch-1 greedy decoding measured against its physical limit: a decoding step reads every weight once, so the
/// fastest it can go is the model's weight bytes over the memory read bandwidth (<see cref="MemoryBandwidth"/>).
/// </summary>
/// <param name="TokensPerSecond">Decoding steps per second after the prompt (the prompt's own pass excluded).</param>
/// <param name="WeightBytesPerToken">Bytes of weights one step reads (every matrix once; the embedding as the tied head).</param>
/// <param name="BandwidthBytesPerSecond">The read bandwidth measured in the same run.</param>
/// <param name="PromptSeconds">The prompt's forward pass (libtorch).</param>
public sealed record DecodeMeasurement(
    string Dtype, bool FastDecode, int NewTokens, double TokensPerSecond, long WeightBytesPerToken, double BandwidthBytesPerSecond,
    double PromptSeconds)
{
    /// <summary>Tokens per second at the bandwidth limit.</summary>
    public double LimitTokensPerSecond => BandwidthBytesPerSecond / WeightBytesPerToken;

    /// <summary>The fraction of the limit reached.</summary>
    public double FractionOfLimit => TokensPerSecond / LimitTokensPerSecond;
}

public static class DecodeBenchmark
{
    /// <summary>Qwen2.5-0.5B's shape (its config.json), for random weights.</summary>
    public static DecoderConfig Qwen25HalfB => new()
    {
        ModelType = "qwen2", HiddenSize = 896, IntermediateSize = 4864, NumHiddenLayers = 24, NumAttentionHeads = 14,
        NumKeyValueHeads = 2, VocabSize = 151936, TieWordEmbeddings = true, RopeTheta = 1e6, RmsNormEps = 1e-6,
        MaxPositionEmbeddings = 32768, EosTokenId = null,
    };

    /// <summary>
    /// Decodes <paramref name="newTokens"/> tokens greedily after a 16-token prompt, from random weights in
    /// <paramref name="dtype"/> (float32 or bfloat16), <paramref name="rounds"/> times after a warm-up, with a
    /// bandwidth measurement between rounds; keeps the fastest round and the highest bandwidth.
    /// </summary>
    public static DecodeMeasurement Run(DecoderConfig config, ScalarType dtype, int newTokens = 64, int rounds = 3, bool fastDecode = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(newTokens, 2);
        using var model = ModelFactory.CreateFromConfig(config, seed: 0, dtype);
        var prompt = Enumerable.Range(1, 16).Select(i => i % config.VocabSize).ToList();
        var options = new GenerationOptions { MaxNewTokens = newTokens, Temperature = 0, FastDecode = fastDecode, EosTokenIds = [] };
        long weightBytes = WeightBytesPerToken(model);
        TokenGenerator.Generate(model, [prompt], options with { MaxNewTokens = 4 }); // warm-up
        double bestRate = 0, bestBandwidth = 0, promptSeconds = double.MaxValue;
        for (int round = 0; round < rounds; round++)
        {
            bestBandwidth = Math.Max(bestBandwidth, MemoryBandwidth.ReadBytesPerSecond(get_num_threads()));
            var clock = Stopwatch.StartNew();
            double firstStep = 0;
            int steps = 0;
            TokenGenerator.Generate(model, [prompt], options with
            {
                OnStep = step =>
                {
                    if (step.Step == 0) firstStep = clock.Elapsed.TotalSeconds;
                    steps++;
                },
            });
            double decoding = clock.Elapsed.TotalSeconds - firstStep;
            bestRate = Math.Max(bestRate, (steps - 1) / decoding);
            promptSeconds = Math.Min(promptSeconds, firstStep);
        }
        return new DecodeMeasurement(dtype.ToString(), fastDecode, newTokens, bestRate, weightBytes, bestBandwidth, promptSeconds);
    }

    /// <summary>
    /// The decode kernel's matrix-vector product alone (<c>DecodeKernels.MatVec</c>, batch 1), its rows split over
    /// <paramref name="threads"/> threads as the decoder splits them: weight bytes read per second, the fastest of
    /// <paramref name="rounds"/> passes over a random <paramref name="rows"/> × <paramref name="columns"/> matrix in
    /// <paramref name="dtype"/>. Against <see cref="MemoryBandwidth"/> it says whether a dtype's decoding is bound by
    /// the memory or by the kernel's arithmetic.
    /// </summary>
    public static unsafe double MatVecBytesPerSecond(ScalarType dtype, int rows, int columns, int threads, int rounds = 10)
    {
        using var scope = NewDisposeScope();
        using var weight = randn(rows, columns).to(dtype).contiguous();
        var x = new float[columns];
        var y = new float[rows];
        for (int i = 0; i < columns; i++) x[i] = 1f / (i + 1);
        var matrix = new WeightMatrix(SingleTokenDecoder.DataPointer(weight), rows, columns, dtype == ScalarType.BFloat16);
        double best = double.MaxValue;
        fixed (float* xs = x, ys = y)
        {
            float* xp = xs, yp = ys;
            void Share(int part) =>
                DecodeKernels.MatVec(matrix, xp, 1, yp, rows, null, (int)((long)rows * part / threads),
                                     (int)((long)rows * (part + 1) / threads));
            // Warm up for half a second first: the threads, the caches, and the JIT's optimised kernel (tiered compilation
            // replaces the first, unoptimised code only after a short delay, which would otherwise be what is timed).
            var warm = Stopwatch.StartNew();
            while (warm.Elapsed.TotalSeconds < 0.5)
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, Share);
            for (int round = 0; round < rounds; round++)
            {
                var clock = Stopwatch.StartNew();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, Share);
                best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }
        }
        return (double)rows * columns * weight.ElementSize / best;
    }

    /// <summary>Bytes of weights one decoding step reads: every parameter once, except an untied input embedding (one row).</summary>
    public static long WeightBytesPerToken(LlamaForCausalLM model)
    {
        long total = 0;
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name == "model.embed_tokens.weight" && !model.Config.TieWordEmbeddings) continue;
            total += parameter.numel() * parameter.ElementSize;
        }
        return total;
    }
}

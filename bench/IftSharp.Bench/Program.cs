using System.Diagnostics;
using IftSharp.Models;
using static TorchSharp.torch;

// Micro-benchmarks that are not part of the test suite. Usage: dotnet run -c Release --project bench/IftSharp.Bench -- matmul|generate
var what = args.FirstOrDefault() ?? "matmul";
switch (what)
{
    case "matmul":
        MatmulPeak(float32);
        MatmulPeak(bfloat16);
        break;
    case "generate":
        GenerateThroughput();
        break;
    default:
        Console.Error.WriteLine($"unknown benchmark '{what}'; known: matmul, generate");
        return 2;
}
return 0;

static void MatmulPeak(ScalarType dtype)
{
    const int n = 1024;
    using var scope = NewDisposeScope();
    var a = randn(n, n).to(dtype);
    var b = randn(n, n).to(dtype);
    for (int i = 0; i < 3; i++) matmul(a, b).Dispose();
    var times = new List<double>();
    for (int r = 0; r < 10; r++)
    {
        var sw = Stopwatch.StartNew();
        matmul(a, b).Dispose();
        times.Add(sw.Elapsed.TotalSeconds);
    }
    times.Sort();
    double median = times[times.Count / 2];
    Console.WriteLine($"matmul {n}x{n} {dtype}: {2.0 * n * n * n / median / 1e9:F1} GFLOP/s (median of 10, threads {get_num_threads()})");
}

// Greedy decoding of 256 new tokens from a 32-token prompt on a small random Llama, with and without the KV cache.
static void GenerateThroughput()
{
    var config = new DecoderConfig
    {
        ModelType = "llama", HiddenSize = 256, IntermediateSize = 688, NumHiddenLayers = 4, NumAttentionHeads = 8,
        NumKeyValueHeads = 2, VocabSize = 2048, MaxPositionEmbeddings = 1024, TieWordEmbeddings = true, InitializerRange = 0.1,
    };
    using var model = ModelFactory.CreateFromConfig(config, seed: 1);
    var prompt = Enumerable.Range(0, 32).Select(i => (i * 37 + 11) % config.VocabSize).ToArray();
    var options = new GenerationOptions { MaxNewTokens = 256, EosTokenIds = [] };
    // The machine is shared: alternate the two variants and keep each one's best of three runs.
    TokenGenerator.Generate(model, [prompt], options with { MaxNewTokens = 64 }); // warm-up (JIT, allocator)
    TokenGenerator.Generate(model, [prompt], options with { MaxNewTokens = 16, UseCache = false });
    double Rate(bool cache, out IReadOnlyList<int> tokens)
    {
        var sw = Stopwatch.StartNew();
        tokens = TokenGenerator.Generate(model, [prompt], options with { UseCache = cache }).Tokens[0];
        return tokens.Count / sw.Elapsed.TotalSeconds;
    }
    double withCache = 0, without = 0;
    IReadOnlyList<int> cached = [], uncached = [];
    for (int run = 0; run < 3; run++)
    {
        withCache = Math.Max(withCache, Rate(true, out cached));
        without = Math.Max(without, Rate(false, out uncached));
    }
    Console.WriteLine($"generate 256 tokens (hidden 256, 4 layers, vocab 2048, threads {get_num_threads()}): " +
                      $"with KV cache {withCache:F1} tok/s, without {without:F1} tok/s, speed-up {withCache / without:F1}x, same tokens: {cached.SequenceEqual(uncached)}");
}

using IftSharp.Benchmarking;
using IftSharp.Core;
using static TorchSharp.torch;

// Single micro-benchmarks outside the test suite, for profiling one piece at a time; `iftsharp bench` runs them all.
// Usage: dotnet run -c Release --project bench/IftSharp.Bench --
//     matmul|generate|decode [bf16] [N] [libtorch]|step METHOD [BATCH]|profile [float32|bf16]|curve STEPS|scalar-race SECONDS
//     memory CONFIG.json [options] (peak memory of LoRA, checkpointing, the chunked loss: see MemoryPieces.cs)
LargeAllocations.Apply(); // IFTSHARP_MALLOC_TUNING=0 measures glibc's defaults
var shape = new BenchmarkShape();
switch (args.FirstOrDefault() ?? "matmul")
{
    case "matmul":
        Console.WriteLine($"matmul 2048² (fastest of 10) float32 {StepBenchmark.MatmulGflops(float32):F0} GFLOP/s, " +
                          $"bfloat16 {StepBenchmark.MatmulGflops(bfloat16):F0} GFLOP/s ({get_num_threads()} threads; " +
                          $"MKL vendor check {MklVendorCheck.State})");
        break;
    case "generate":
        double cached = StepBenchmark.GenerationTokensPerSecond(shape, useCache: true);
        double uncached = StepBenchmark.GenerationTokensPerSecond(shape, useCache: false);
        Console.WriteLine($"256 new tokens: {cached:F0} tokens/s with the KV cache, {uncached:F0} without ({cached / uncached:F1}×)");
        break;
    case "decode":
    {
        // decode [float32|bf16] [NEW_TOKENS] [libtorch]: batch-1 greedy decoding of the Qwen2.5-0.5B shape against its bandwidth limit
        var dtype = args.ElementAtOrDefault(1) == "bf16" ? bfloat16 : float32;
        int tokens = int.Parse(args.ElementAtOrDefault(2) ?? "64");
        var d = DecodeBenchmark.Run(DecodeBenchmark.Qwen25HalfB, dtype, tokens, fastDecode: args.ElementAtOrDefault(3) != "libtorch");
        Console.WriteLine($"{d.Dtype} (fast decode {d.FastDecode}): {d.TokensPerSecond:F2} tokens/s, " +
                          $"{d.WeightBytesPerToken / 1e9:F3} GB of weights a token, " +
                          $"read bandwidth {d.BandwidthBytesPerSecond / 1e9:F1} GB/s: limit {d.LimitTokensPerSecond:F2} tokens/s, " +
                          $"{d.FractionOfLimit:P0} of it; prompt pass {d.PromptSeconds:F2} s ({get_num_threads()} threads)");
        break;
    }
    case "matvec":
    {
        // matvec [THREADS]: the decode kernel's matrix-vector product alone, float32 against bfloat16 weights, beside the
        // read bandwidth: whether a dtype's decoding is bound by memory or by the kernel (Qwen2.5-0.5B's MLP and LM head)
        int threads = int.Parse(args.ElementAtOrDefault(1) ?? get_num_threads().ToString());
        Console.WriteLine($"read bandwidth {MemoryBandwidth.ReadBytesPerSecond(threads) / 1e9:F1} GB/s ({threads} threads; " +
                          $"SIMD: 512-bit {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}, " +
                          $"256-bit {System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated})");
        foreach (var (rows, columns, what) in new[] { (4864, 896, "MLP up"), (896, 4864, "MLP down"), (151936, 896, "LM head") })
            foreach (var dtype in new[] { float32, bfloat16 })
                Console.WriteLine($"{what} {rows}×{columns} {dtype}: " +
                                  $"{DecodeBenchmark.MatVecBytesPerSecond(dtype, rows, columns, threads) / 1e9:F1} GB/s of weights");
        break;
    }
    case "step":
        var m = StepBenchmark.Run(args.ElementAtOrDefault(1) ?? "sft", args.Length > 2 ? shape with { Batch = int.Parse(args[2]) } : shape);
        Console.WriteLine($"{m.Method}: trainer median {m.MedianSeconds:F3} s (min {m.MinSeconds:F3}), " +
                          (m.RawMedianSeconds is double raw ? $"raw {raw:F3} s (min {m.RawMinSeconds:F3}), gap {m.Gap:P1}, " : "") +
                          $"{m.Flops / m.MedianSeconds / 1e9:F0} GFLOP/s, {m.TokensPerSecond:F0} tokens/s, " +
                          $"peak RSS {m.PeakResidentMegabytes:F0} MiB (MKL vendor check {m.VendorCheck})");
        break;
    case "curve":
        int steps = int.Parse(args.ElementAtOrDefault(1) ?? "200");
        var f32 = LossCurveBenchmark.Run("sft", shape, steps, bf16: false);
        var b16 = LossCurveBenchmark.Run("sft", shape, steps, bf16: true);
        var (mean, max) = LossCurveBenchmark.RelativeDifference(f32, b16);
        Console.WriteLine($"SFT {steps} steps: float32 {f32.Losses[0]:F3} → {f32.Losses[^1]:F4} in {f32.Seconds:F0} s; "
            + $"bf16 {b16.Losses[0]:F3} → {b16.Losses[^1]:F4} in {b16.Seconds:F0} s; |Δ|/loss mean {mean:P2}, max {max:P2}");
        break;
    case "curve-noise":
    {
        int n = int.Parse(args.ElementAtOrDefault(1) ?? "200");
        var a = LossCurveBenchmark.Run("sft", shape, n, bf16: false);
        var b = LossCurveBenchmark.Run("sft", shape, n, bf16: false, roundStart: true);
        var (mn, mx) = LossCurveBenchmark.RelativeDifference(a, b);
        Console.WriteLine($"SFT {n} steps float32 against float32 from bf16-rounded start: {a.Losses[^1]:F4} vs {b.Losses[^1]:F4}; "
            + $"|Δ|/loss mean {mn:P2}, max {mx:P2}");
        break;
    }
    case "profile":
        // profile [float32|bf16]: where an SFT step's time goes, piece by piece (StepProfile.cs)
        var dtypes = args.ElementAtOrDefault(1) switch { "bf16" => [bfloat16], "float32" => [float32], _ => new[] { float32, bfloat16 } };
        foreach (var dtype in dtypes)
            Console.WriteLine(StepProfile.Markdown(StepProfile.Run(shape, dtype)));
        break;
    case "memory":
        return MemoryPieces.Run(args[1..]);
    case "scalar-race":
        double seconds = double.Parse(args.ElementAtOrDefault(1) ?? "30");
        Console.WriteLine(ScalarRace.Run("TorchSharp x.add_(y)", (x, y) => x.add_(y), seconds));
        Console.WriteLine(ScalarRace.Run("ScalarArithmetic x.PlusInPlace(y)", (x, y) => x.PlusInPlace(y), seconds));
        break;
    default:
        Console.Error.WriteLine("unknown benchmark; known: matmul, generate, decode [bf16] [N] [libtorch], step METHOD [BATCH], " +
                                "profile [float32|bf16], " +
                                "curve STEPS, scalar-race SECONDS");
        return 2;
}
return 0;

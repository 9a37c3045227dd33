using IftSharp.Benchmarking;
using static TorchSharp.torch;

// Single micro-benchmarks outside the test suite, for profiling one piece at a time; `iftsharp bench` runs them all.
// Usage: dotnet run -c Release --project bench/IftSharp.Bench -- matmul|generate|step METHOD
var shape = new BenchmarkShape();
switch (args.FirstOrDefault() ?? "matmul")
{
    case "matmul":
        Console.WriteLine($"matmul 1024² float32 {StepBenchmark.MatmulGflops(float32):F0} GFLOP/s, bfloat16 {StepBenchmark.MatmulGflops(bfloat16):F0} GFLOP/s ({get_num_threads()} threads)");
        break;
    case "generate":
        double cached = StepBenchmark.GenerationTokensPerSecond(shape, useCache: true);
        double uncached = StepBenchmark.GenerationTokensPerSecond(shape, useCache: false);
        Console.WriteLine($"256 new tokens: {cached:F0} tokens/s with the KV cache, {uncached:F0} without ({cached / uncached:F1}×)");
        break;
    case "step":
        var m = StepBenchmark.Run(args.ElementAtOrDefault(1) ?? "sft", shape);
        Console.WriteLine($"{m.Method}: median {m.MedianSeconds:F3} s, {m.TokensPerSecond:F0} tokens/s, peak RSS {m.PeakResidentMegabytes:F0} MiB");
        break;
    default:
        Console.Error.WriteLine("unknown benchmark; known: matmul, generate, step METHOD");
        return 2;
}
return 0;

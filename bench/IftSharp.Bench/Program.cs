using System.Diagnostics;
using static TorchSharp.torch;

// Micro-benchmarks that are not part of the test suite. Usage: dotnet run -c Release --project bench/IftSharp.Bench -- matmul
var what = args.FirstOrDefault() ?? "matmul";
switch (what)
{
    case "matmul":
        MatmulPeak(float32);
        MatmulPeak(bfloat16);
        break;
    default:
        Console.Error.WriteLine($"unknown benchmark '{what}'; known: matmul");
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

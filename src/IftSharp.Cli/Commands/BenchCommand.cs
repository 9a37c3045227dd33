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
/// <c>iftsharp bench</c>: step time, memory and throughput of every method on a fixed model, as ratios measured in one
/// run. Each method runs in a child process of its own so its peak resident memory is its own.
/// </summary>
public static class BenchCommand
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static Command Create()
    {
        var output = new Option<string>("--output")
        {
            Description = "Folder for bench.json and bench.md.",
            DefaultValueFactory = _ => "runs/bench",
        };
        var repeats = new Option<int>("--repeats")
        {
            Description = "Timed steps per method (median reported), after 2 warm-up steps.", DefaultValueFactory = _ => 5,
        }.AtLeast(1);
        var rounds = new Option<int>("--rounds")
        {
            Description = "Times every method is measured, in interleaved rounds; each method keeps its fastest round's median "
                + "(a shared machine's slow spells then hit one round, not the result).",
            DefaultValueFactory = _ => 2,
        }.AtLeast(1);
        var curveSteps = new Option<int>("--curve-steps")
        {
            Description = "Steps of the float32 and bfloat16 SFT loss curves compared on real text (0 skips them).",
            DefaultValueFactory = _ => 200,
        }.AtLeast(0);
        var noiseFloor = new Option<bool>("--noise-floor")
        {
            Description = "Also train the float32 curve from the initial weights rounded once to bfloat16: how far two float32 runs "
                + "drift apart from a perturbation that small (adds about 2 minutes).",
        };
        var worker = new Option<string?>("--worker") { Description = "Internal: measure one method and print its JSON.", Hidden = true };
        var command = new Command("bench",
            "Benchmark the optimizer step of every method (ratios to SFT), peak memory, MFU, generation with and without the KV cache, "
            + "and the same SFT step in Python PyTorch when available.");
        command.Options.Add(output);
        command.Options.Add(repeats);
        command.Options.Add(rounds);
        command.Options.Add(curveSteps);
        command.Options.Add(noiseFloor);
        command.Options.Add(worker);
        var realShape = BenchModelConfig.AddTo(command); // --model-config: the real-shape mode, in its own file
        command.SetAction(parse => CliErrors.Run(() =>
        {
            if (realShape.Requested(parse)) return realShape.Run(parse, parse.GetValue(output)!);
            var shape = new BenchmarkShape { Repeats = parse.GetValue(repeats) };
            if (parse.GetValue(worker) is string method)
            {
                Console.WriteLine(method == StepBenchmark.MatmulWorker ? JsonSerializer.Serialize(StepBenchmark.MeasureMatmulPeak())
                    : JsonSerializer.Serialize(StepBenchmark.Run(method, shape)));
                return 0;
            }
            if (parse.GetValue(rounds) < 1) throw new InputException("--rounds: expected at least 1");
            return Run(shape, parse.GetValue(output)!, parse.GetValue(curveSteps), parse.GetValue(rounds), parse.GetValue(noiseFloor));
        }));
        return command;
    }

    private static int Run(BenchmarkShape shape, string output, int curveSteps, int rounds, bool noiseFloor)
    {
        var clock = Stopwatch.StartNew();
        double cached = 0, uncached = 0;
        JsonElement? pytorch = null;
        AnsiConsole.MarkupLine($"Model: {shape.Layers} layers, hidden {shape.Hidden}, {shape.Heads} heads, MLP {shape.Intermediate}, " +
                               $"vocab {shape.Vocab}, tied; batch {shape.Batch} × {shape.Sequence} tokens, float32.");
        AnsiConsole.MarkupLine(Markup.Escape($"Setup: {NativeSetup.Describe()}."));
        var allRounds = new List<StepMeasurement>();
        for (int round = 1; round <= rounds; round++)
        {
            foreach (var method in StepBenchmark.Methods)
            {
                AnsiConsole.MarkupLine($"  round {round}/{rounds}: measuring {method} ...");
                allRounds.Add(RunWorker(method, shape));
            }
            if (round > 1) continue; // a contrast, not a ratio: one round is enough
            AnsiConsole.MarkupLine($"  round {round}/{rounds}: measuring {StepBenchmark.Baseline} with glibc's default malloc ...");
            allRounds.Add(RunWorker(StepBenchmark.Baseline, shape, UntunedMalloc) with { Method = UntunedSft });
            foreach (var method in VendorCheckContrast)
            {
                AnsiConsole.MarkupLine($"  round {round}/{rounds}: measuring {method} with MKL's vendor check unanswered ...");
                allRounds.Add(RunWorker(method, shape, VendorCheckOff) with { Method = WithoutVendorCheck(method) });
            }
        }
        // Each entry keeps its fastest round, trainer and raw step from the same round (they ran interleaved).
        var steps = allRounds.GroupBy(m => m.Method).Select(g => g.MinBy(m => m.MedianSeconds)!).ToList();
        AnsiConsole.MarkupLine("  measuring the GEMM peaks (here, and in a process without the vendor check), generation, PyTorch ...");
        var peakHere = StepBenchmark.MeasureMatmulPeak();
        var peakOff = RunMatmulWorker(VendorCheckOff);
        var peaks = new Peaks(peakHere, peakOff);
        cached = StepBenchmark.GenerationTokensPerSecond(shape, useCache: true);
        uncached = StepBenchmark.GenerationTokensPerSecond(shape, useCache: false);
        pytorch = RunPyTorch(shape, null);
        var pytorchTuned = RunPyTorch(shape, GlibcTunables);
        LossCurve? curve32 = null, curve16 = null, curveNoise = null;
        if (curveSteps > 0)
        {
            AnsiConsole.MarkupLine($"  training {curveSteps} SFT steps on text in float32, then in bfloat16 mixed precision ...");
            curve32 = LossCurveBenchmark.Run(StepBenchmark.Baseline, shape, curveSteps, bf16: false);
            curve16 = LossCurveBenchmark.Run(StepBenchmark.Baseline, shape, curveSteps, bf16: true);
            if (noiseFloor)
            {
                AnsiConsole.MarkupLine(
                    "  ... and in float32 from the initial weights rounded to bfloat16 (the comparison's noise floor) ...");
                curveNoise = LossCurveBenchmark.Run(StepBenchmark.Baseline, shape, curveSteps, bf16: false, roundStart: true);
            }
        }
        var curveDifference = curve32 is null ? ((double, double)?)null : LossCurveBenchmark.RelativeDifference(curve32, curve16!);

        var sft = steps.Single(s => s.Method == StepBenchmark.Baseline);
        double mfu = peaks.Mfu(sft);
        var report = new
        {
            shape,
            threads = get_num_threads(),
            interop_threads = get_num_interop_threads(),
            mkl_vendor_check = MklVendorCheck.State.ToString(),
            cores = Environment.ProcessorCount,
            rounds,
            all_rounds = allRounds,
            steps = steps.Select(s => new
            {
                s.Method, median_seconds = s.MedianSeconds, min_seconds = s.MinSeconds, raw_median_seconds = s.RawMedianSeconds,
                raw_min_seconds = s.RawMinSeconds,
                trainer_over_raw = s.RawMedianSeconds is double raw ? s.MedianSeconds / raw : (double?)null,
                tokens_per_second = s.TokensPerSecond, flops = s.Flops, achieved_gflops = s.Flops / s.MedianSeconds / 1e9,
                peak_gflops = peaks.For(s), mfu = peaks.Mfu(s), mkl_vendor_check = s.VendorCheck,
                peak_resident_mb = s.PeakResidentMegabytes, step_ratio_to_sft = s.MedianSeconds / sft.MedianSeconds,
                memory_ratio_to_sft = s.PeakResidentMegabytes / sft.PeakResidentMegabytes,
            }),
            matmul_gflops = new
            {
                float32 = peaks.Float32, bfloat16 = peaks.BFloat16, float32_vendor_check_here = peakHere.Float32,
                vendor_check_here = peakHere.VendorCheck, float32_vendor_check_off = peakOff?.Float32,
                bfloat16_vendor_check_off = peakOff?.BFloat16,
            },
            sft_achieved_gflops = sft.Flops / sft.MedianSeconds / 1e9,
            sft_mfu = mfu,
            generation_tokens_per_second = new { kv_cache = cached, no_cache = uncached, speedup = cached / uncached },
            pytorch_sft_step = pytorch,
            pytorch_sft_step_same_malloc_tuning = pytorchTuned,
            malloc_tuning = LargeAllocations.Active,
            loss_curves = curve32 is null ? null : new
            {
                steps = curveSteps, float32 = curve32.Losses, bfloat16 = curve16!.Losses,
                float32_seconds = curve32.Seconds, bfloat16_seconds = curve16.Seconds,
                float32_from_rounded_start = curveNoise?.Losses,
                noise_floor_mean_relative_difference = curveNoise is null
                    ? (double?)null
                    : LossCurveBenchmark.RelativeDifference(curve32, curveNoise).Mean,
                noise_floor_max_relative_difference = curveNoise is null
                    ? (double?)null
                    : LossCurveBenchmark.RelativeDifference(curve32, curveNoise).Max,
                mean_relative_difference = curveDifference!.Value.Item1, max_relative_difference = curveDifference.Value.Item2,
            },
            pytorch_over_iftsharp_speed = pytorch is JsonElement p
                ? sft.MedianSeconds / p.GetProperty("median_step_seconds").GetDouble()
                : (double?)null,
            pytorch_same_malloc_tuning_over_iftsharp_speed = pytorchTuned is JsonElement q
                ? sft.MedianSeconds / q.GetProperty("median_step_seconds").GetDouble()
                : (double?)null,
            seconds = clock.Elapsed.TotalSeconds,
        };
        Directory.CreateDirectory(output);
        AtomicFile.WriteAllText(Path.Combine(output, "bench.json"), JsonSerializer.Serialize(report, Json));
        var md = Markdown(steps, sft, peaks, shape, cached, uncached, pytorch, pytorchTuned, curve32, curve16, curveNoise);
        AtomicFile.WriteAllText(Path.Combine(output, "bench.md"), md);
        Console.WriteLine(md);
        AnsiConsole.MarkupLine(
            $"Wrote {Markup.Escape(Path.Combine(output, "bench.json"))} and bench.md in {clock.Elapsed.TotalSeconds:F0} s.");
        return 0;
    }

    /// <summary>
    /// The physical peaks an MFU is taken against: float32, the faster of libtorch's GEMM here (vendor check as this
    /// process set it) and in a child process that leaves it unanswered; bfloat16 likewise, for the bf16 steps.
    /// </summary>
    private sealed record Peaks(MatmulPeak Here, MatmulPeak? VendorCheckOff)
    {
        public double Float32 => Math.Max(Here.Float32, VendorCheckOff?.Float32 ?? 0);
        public double BFloat16 => Math.Max(Here.BFloat16, VendorCheckOff?.BFloat16 ?? 0);
        public double For(StepMeasurement s) => s.Method.Contains("-bf16", StringComparison.Ordinal) ? BFloat16 : Float32;
        public double Mfu(StepMeasurement s) => s.Flops / s.MedianSeconds / 1e9 / For(s);
    }

    private static string Markdown(List<StepMeasurement> steps, StepMeasurement sft, Peaks peaks, BenchmarkShape shape,
        double cached, double uncached, JsonElement? pytorch, JsonElement? pytorchTuned, LossCurve? curve32, LossCurve? curve16,
        LossCurve? curveNoise)
    {
        var sb = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        sb.AppendLine("| method | trainer step (s, median) | raw step (s) | trainer / raw | × SFT | tokens/s | GFLOP/s | MFU | " +
                      "peak RSS (MiB) | × SFT |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var s in steps)
        {
            string raw = s.RawMedianSeconds is double r ? string.Create(c, $"{r:F3} | {s.MedianSeconds / r:F3}") : "– | –";
            sb.AppendLine(string.Create(c, $"| {s.Method} | {s.MedianSeconds:F3} | {raw} | {s.MedianSeconds / sft.MedianSeconds:F2} | " +
                $"{s.TokensPerSecond:F0} | {s.Flops / s.MedianSeconds / 1e9:F0} | {peaks.Mfu(s):P0} | {s.PeakResidentMegabytes:F0} | " +
                $"{s.PeakResidentMegabytes / sft.PeakResidentMegabytes:F2} |"));
        }
        sb.AppendLine();
        var here = peaks.Here;
        var offPeak = peaks.VendorCheckOff;
        string elsewhere = offPeak is null ? "; bfloat16 " + here.BFloat16.ToString("F0", c)
            : string.Create(c, $", {offPeak.Float32:F0} in a process with IFTSHARP_MKL_VENDOR_CHECK=0; "
                + $"bfloat16 {here.BFloat16:F0} and {offPeak.BFloat16:F0}");
        sb.AppendLine(string.Create(c, $"- GEMM peaks (2048², fastest of 10): float32 {here.Float32:F0} GFLOP/s in this process " +
            $"(MKL vendor check {here.VendorCheck}){elsewhere}. MFU is against the faster of each: float32 {peaks.Float32:F0}, " +
            $"bfloat16 {peaks.BFloat16:F0} (the bf16 rows)"));
        foreach (var m in StepBenchmark.Bf16Methods)
        {
            var f = steps.Single(s => s.Method == m);
            var b = steps.Single(s => s.Method == StepBenchmark.Bf16(m));
            sb.AppendLine(string.Create(c, $"- {m} in bfloat16 mixed precision (float32 master weights): "
                + $"{f.MedianSeconds / b.MedianSeconds:F2}× the float32 step's speed"));
        }
        foreach (var method in VendorCheckContrast)
        {
            var on = steps.Single(s => s.Method == method);
            var off = steps.SingleOrDefault(s => s.Method == WithoutVendorCheck(method));
            if (off is not null)
                sb.AppendLine(string.Create(c, $"- {method} with MKL's vendor check answered ({on.VendorCheck}) against unanswered: " +
                    $"{off.MedianSeconds / on.MedianSeconds:F2}× faster"));
        }
        var ift = steps.SingleOrDefault(s => s.Method == "ift");
        if (ift is not null) sb.AppendLine(string.Create(c, $"- IFT step / SFT step: {ift.MedianSeconds / sft.MedianSeconds:F2}"));
        var doubled = steps.Single(s => s.Method == StepBenchmark.Doubled);
        var againstDoubled = string.Join(", ", steps.Where(s => StepBenchmark.PairwiseMethods.Contains(s.Method))
            .Select(s => string.Create(c, $"{s.Method} {s.MedianSeconds / doubled.MedianSeconds:F2}×")));
        sb.AppendLine(string.Create(c, $"- SFT on twice the rows (a preference step's tokens) takes "
            + $"{doubled.MedianSeconds / sft.MedianSeconds:F2}× SFT; against it, {againstDoubled} (the objective's own share)"));
        sb.AppendLine(string.Create(c, $"- SFT step: {sft.Flops / sft.MedianSeconds / 1e9:F0} GFLOP/s achieved, "
            + $"MFU {peaks.Mfu(sft):P0} of the physical float32 peak"));
        sb.AppendLine(string.Create(c, $"- generation, 256 new tokens, batch 1: {cached:F0} tokens/s with the KV cache, "
            + $"{uncached:F0} without ({cached / uncached:F1}×)"));
        var untuned = steps.SingleOrDefault(s => s.Method == UntunedSft);
        if (untuned is not null)
        {
            sb.AppendLine(string.Create(c, $"- SFT with glibc's default malloc (every tensor over 32 MiB gets fresh pages): "
                + $"{untuned.MedianSeconds:F3} s, so keeping pages across steps makes the step "
                + $"{untuned.MedianSeconds / sft.MedianSeconds:F2}× faster"));
        }
        if (pytorch is JsonElement p)
        {
            double pt = p.GetProperty("median_step_seconds").GetDouble();
            sb.AppendLine(string.Create(c, $"- the same SFT step in Python PyTorch {p.GetProperty("torch").GetString()} "
                + $"({p.GetProperty("threads").GetInt32()} threads): {pt:F3} s; IftSharp/PyTorch step time {sft.MedianSeconds / pt:F2}"));
            if (pytorchTuned is JsonElement q)
            {
                double qt = q.GetProperty("median_step_seconds").GetDouble();
                sb.AppendLine(string.Create(c, $"- the same PyTorch step with the same malloc tuning (GLIBC_TUNABLES): {qt:F3} s; "
                    + $"IftSharp/PyTorch step time {sft.MedianSeconds / qt:F2}"));
            }
        }
        else sb.AppendLine("- Python PyTorch comparison: not measured (needs /usr/bin/python3 with torch and bench/pytorch_sft_step.py)");
        if (curve32 is not null && curve16 is not null)
        {
            var (mean, max) = LossCurveBenchmark.RelativeDifference(curve32, curve16);
            double Tail(LossCurve c) => c.Losses.TakeLast(20).Average();
            sb.AppendLine(string.Create(c, $"- SFT loss curve over {curve32.Losses.Count} steps on text, "
                + $"bf16 mixed precision against float32: mean |Δ|/loss {mean:P2}, largest {max:P2}; "
                + $"loss {curve32.Losses[0]:F3} → {Tail(curve32):F4} (float32, mean of the last 20 steps) "
                + $"and {curve16.Losses[0]:F3} → {Tail(curve16):F4} (bf16); {curve32.Seconds:F0} s against {curve16.Seconds:F0} s"));
            if (curveNoise is not null)
            {
                var (noiseMean, noiseMax) = LossCurveBenchmark.RelativeDifference(curve32, curveNoise);
                sb.AppendLine(string.Create(c, $"- noise floor: float32 from the same initial weights rounded once to bf16 "
                    + $"against float32: mean |Δ|/loss {noiseMean:P2}, largest {noiseMax:P2}; loss → {Tail(curveNoise):F4}"));
            }
        }
        return sb.ToString();
    }

    private static readonly string UntunedSft = StepBenchmark.Baseline + " (default malloc)";
    /// <summary>The float32 entries measured a second time with MKL's vendor check left unanswered (their rows side by side).</summary>
    private static readonly string[] VendorCheckContrast = ["sft", "ift", "dpo"];
    private static string WithoutVendorCheck(string method) => method + " (vendor check off)";
    private static readonly Dictionary<string, string> VendorCheckOff = new() { ["IFTSHARP_MKL_VENDOR_CHECK"] = "0" };
    private static readonly Dictionary<string, string> UntunedMalloc = new() { ["IFTSHARP_MALLOC_TUNING"] = "0" };
    /// <summary>The environment-variable form of <see cref="LargeAllocations"/>, for a process that cannot call mallopt itself.</summary>
    private static readonly Dictionary<string, string> GlibcTunables = new()
    {
        ["GLIBC_TUNABLES"] = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647",
    };

    private static StepMeasurement RunWorker(string method, BenchmarkShape shape, Dictionary<string, string>? environment = null)
    {
        var (file, prefix) = SelfInvocation();
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in environment ?? []) psi.Environment[k] = v;
        foreach (var a in prefix) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "bench", "--worker", method, "--repeats", shape.Repeats.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--threads"); // the parent's count, whether chosen by --threads or from the cores
        psi.ArgumentList.Add(get_num_threads().ToString(CultureInfo.InvariantCulture));
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        var line = stdout.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (process.ExitCode != 0 || line is null)
            throw new InvalidOperationException($"benchmark worker for {method} failed (exit {process.ExitCode}): {stderr}{stdout}");
        return JsonSerializer.Deserialize<StepMeasurement>(line)!;
    }

    /// <summary>The GEMM peaks of a child process with <paramref name="environment"/>; null if it fails (the row then says so).</summary>
    private static MatmulPeak? RunMatmulWorker(Dictionary<string, string> environment)
    {
        var (file, prefix) = SelfInvocation();
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        foreach (var a in prefix) psi.ArgumentList.Add(a);
        string threads = get_num_threads().ToString(CultureInfo.InvariantCulture);
        foreach (var a in new[] { "bench", "--worker", StepBenchmark.MatmulWorker, "--threads", threads })
            psi.ArgumentList.Add(a);
        return LastJsonLine(psi) is { } line ? JsonSerializer.Deserialize<MatmulPeak>(line) : null;
    }

    /// <summary>How to start this program again: the app host directly, or <c>dotnet IftSharp.Cli.dll</c>.</summary>
    private static (string File, string[] Prefix) SelfInvocation()
    {
        var path = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(path) == "dotnet" ? (path, [Assembly.GetEntryAssembly()!.Location]) : (path, []);
    }

    private static JsonElement? RunPyTorch(BenchmarkShape shape, Dictionary<string, string>? environment)
    {
        const string python = "/usr/bin/python3";
        var script = Path.Combine("bench", "pytorch_sft_step.py");
        if (!File.Exists(python) || !File.Exists(script)) return null;
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in environment ?? []) psi.Environment[k] = v;
        string[] arguments =
        [
            script, "--layers", $"{shape.Layers}", "--hidden", $"{shape.Hidden}", "--heads", $"{shape.Heads}",
            "--intermediate", $"{shape.Intermediate}", "--vocab", $"{shape.Vocab}", "--seq", $"{shape.Sequence}",
            "--batch", $"{shape.Batch}", "--repeats", $"{shape.Repeats}", "--threads", $"{get_num_threads()}",
        ];
        foreach (var a in arguments)
            psi.ArgumentList.Add(a);
        return LastJsonLine(psi) is { } line ? JsonDocument.Parse(line).RootElement.Clone() : null;
    }

    /// <summary>Runs a child to its end; its last stdout line that is a JSON object, or null when it failed.</summary>
    private static string? LastJsonLine(ProcessStartInfo psi)
    {
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        var line = stdout.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        return process.ExitCode == 0 ? line : null;
    }
}

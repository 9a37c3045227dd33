using System.Diagnostics;
using System.Globalization;
using IftSharp.Benchmarking;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Objectives;
using IftSharp.Training.Optimizers;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Peak resident memory of SFT or IFT optimizer steps on a random-weight model of a real config.json's shape, with
/// each memory piece switched on or off: LoRA (all linear projections, float32 adapters; the base frozen, in float32 or
/// bfloat16), gradient checkpointing, the chunked LM-head loss. One configuration per process, so VmHWM is its own.
/// Besides the resident peak (which includes what the allocator keeps, see Core/LargeAllocations), a sampler reads
/// glibc's count of allocated bytes (mallinfo2) every few milliseconds: the peak of what the step really holds.
/// Usage: memory CONFIG.json [--method sft|ift] [--batch 4] [--length 512] [--lora R] [--bf16-base] [--checkpointing]
///        [--chunk POSITIONS] [--steps 2]
/// </summary>
internal static class MemoryPieces
{
    public static int Run(string[] args)
    {
        if (args.Length == 0 || !File.Exists(args[0]))
        {
            Console.Error.WriteLine("usage: memory CONFIG.json [--method sft|ift] [--batch N] [--length T] [--lora R] [--bf16-base] " +
                "[--checkpointing] [--chunk POSITIONS] [--steps N]");
            return 2;
        }
        string Value(string flag, string fallback)
        {
            int i = Array.IndexOf(args, flag);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        bool Flag(string flag) => args.Contains(flag);
        var method = Value("--method", "sft");
        int batch = int.Parse(Value("--batch", "4"), CultureInfo.InvariantCulture);
        int length = int.Parse(Value("--length", "512"), CultureInfo.InvariantCulture);
        int lora = int.Parse(Value("--lora", "0"), CultureInfo.InvariantCulture);
        int steps = int.Parse(Value("--steps", "2"), CultureInfo.InvariantCulture);
        int? chunk = Value("--chunk", "") is { Length: > 0 } c ? int.Parse(c, CultureInfo.InvariantCulture) : null;
        bool bf16Base = Flag("--bf16-base");
        if (bf16Base && lora == 0) throw new ArgumentException("--bf16-base needs --lora (a trained base keeps float32 masters)");

        var config = DecoderConfig.Load(args[0]);
        using var model = ModelFactory.CreateFromConfig(config, seed: 0);
        long total = model.parameters().Sum(p => p.numel());
        IEnumerable<TorchSharp.Modules.Parameter> trainable = model.parameters();
        if (lora > 0)
        {
            if (bf16Base) model.to(ScalarType.BFloat16);
            var adapter = LoraAdapter.Inject(model, LoraConfig.FromOptions(lora, targets: LoraConfig.AllLinear), seed: 0);
            trainable = adapter.parameters();
        }
        model.GradientCheckpointing = Flag("--checkpointing");
        var trainableList = trainable.ToList();
        var optimizer = new AdamWOptimizer(trainableList, lr: 1e-5);
        var frozen = new FrozenEmbedding(model); // IFT's fusion embedding: the model's own, read without gradient
        var iftOptions = new IftOptions();
        var generator = new TorchSharp.torch.Generator(1);
        var ids = randint(0, config.VocabSize, new long[] { batch, length }, generator: generator).DetachFromDisposeScope();
        var labels = ids.clone().DetachFromDisposeScope();
        using (no_grad()) labels.narrow(1, 0, Math.Min(32, length / 4)).FillInPlace(TokenLogProbs.IgnoreIndex);
        double setupResident = ProcessMemory.Own("VmRSS"), setupPeak = ProcessMemory.Own("VmHWM");
        using var sampler = new AllocatorPeak();
        double setupAllocated = AllocatorPeak.Now();

        bool trace = Flag("--trace");
        void Trace(string phase)
        {
            if (trace)
            {
                Console.WriteLine($"  after {phase}: resident {ProcessMemory.Own("VmRSS"):F0} MiB " +
                    $"(peak {ProcessMemory.Own("VmHWM"):F0}), " +
                    $"allocated {AllocatorPeak.Now():F0} MiB (peak {sampler.Peak:F0})");
            }
        }
        double lastSeconds = 0;
        for (int step = 0; step < steps; step++)
        {
            var clock = Stopwatch.StartNew();
            using (var scope = NewDisposeScope())
            {
                optimizer.zero_grad();
                Tensor loss;
                if (method == "ift") loss = IftForward.Loss(model, ids, labels, null, iftOptions, frozen, chunk).Loss;
                else
                {
                    var (logps, mask) = TokenLogProbs.FromModel(model, ids, null, labels, chunk: chunk);
                    loss = Sft.Loss(logps, mask).Loss;
                }
                Trace("forward");
                loss.backward();
                Trace("backward");
                optimizer.step();
                Trace("optimizer step");
            }
            lastSeconds = clock.Elapsed.TotalSeconds;
        }
        long trainableCount = trainableList.Sum(p => p.numel());
        var pieces = string.Join("+", new[]
        {
            lora > 0 ? $"lora{lora}{(bf16Base ? "-bf16base" : "")}" : "full",
            model.GradientCheckpointing ? "ckpt" : null,
            chunk is int n ? $"chunk{n}" : null,
        }.Where(p => p is not null));
        Console.WriteLine($"{Path.GetFileNameWithoutExtension(args[0])} {method} {pieces} batch {batch}x{length}: " +
            $"params {total / 1e6:F1} M (trainable {trainableCount / 1e6:F2} M), after setup {setupResident:F0} MiB " +
            $"(peak {setupPeak:F0}), peak over {steps} steps {ProcessMemory.Own("VmHWM"):F0} MiB; allocated after setup " +
            $"{setupAllocated:F0} MiB, peak {sampler.Peak:F0} MiB; last step {lastSeconds:F1} s");
        ids.Dispose();
        labels.Dispose();
        return 0;
    }
}

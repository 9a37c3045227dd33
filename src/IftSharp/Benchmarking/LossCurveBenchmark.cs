using System.Diagnostics;
using IftSharp.Data;
using IftSharp.Evaluation;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Tokenization;
using IftSharp.Training;

namespace IftSharp.Benchmarking;

/// <summary>The per-step losses of one training run on the benchmark model, in float32 or bfloat16 mixed precision.</summary>
public sealed record LossCurve(string Method, bool Bf16, IReadOnlyList<double> Losses, double Seconds);

/// <summary>
/// Trains the benchmark model for a number of steps on real text (the comparison suite's pretraining corpus, packed
/// into full-length sequences), so the loss falls as it does in training, and returns the curve. Float32 and bf16
/// runs start from the same weights and see the same batches: their curves differ only by precision.
/// </summary>
public static class LossCurveBenchmark
{
    /// <param name="roundStart">Starts from the initial weights rounded to bfloat16 (and trains in float32): a perturbation as
    /// small as bf16's rounding, whose curve against the unperturbed one is the noise floor of the comparison.</param>
    public static LossCurve Run(string method, BenchmarkShape shape, int steps, bool bf16, bool roundStart = false)
    {
        var examples = PackedText(shape, steps * shape.Batch);
        var clock = Stopwatch.StartNew(); // the training, not the text preparation
        using var master = ModelFactory.CreateFromConfig(shape.Config, seed: 0);
        if (roundStart)
            using (TorchSharp.torch.no_grad())
                foreach (var p in master.parameters()) p.copy_(p.to(TorchSharp.torch.ScalarType.BFloat16));
        using var compute = bf16 ? new LlamaForCausalLM(shape.Config) : null;
        var session = new TrainingSession
        {
            Model = master, ComputeCopy = compute, PadId = 0,
            Options = new TrainerOptions { LearningRate = 1e-3, MaxSteps = steps, BatchSize = shape.Batch, Seed = 0 },
        };
        var trained = MethodRegistry.Get(method);
        var history = trained.Train(session, MethodData.Of(examples), null, trained.Defaults);
        return new LossCurve(method, bf16, history.Select(m => m.Loss).ToList(), clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Corpus documents joined by an end-of-text token and cut into sequences of the benchmark length; the first
    /// <see cref="BenchmarkShape.Prompt"/> tokens of each are unlabelled, as in the step benchmark.
    /// </summary>
    private static List<TrainingExample> PackedText(BenchmarkShape shape, int count)
    {
        var tokenizer = new ByteLevelTokenizer();
        var template = new ChatMlTemplate();
        int endOfText = tokenizer.PadTokenId!.Value;
        var stream = new List<int>();
        var documents = PretrainingCorpus.Documents(count * shape.Sequence / 100, seed: 0);
        foreach (var d in documents)
        {
            var text = d.Text ?? template.Render(d.Conversation!).Text;
            stream.AddRange(tokenizer.Encode(text).Ids);
            stream.Add(endOfText);
            if (stream.Count >= count * shape.Sequence) break;
        }
        return Enumerable.Range(0, count).Select(i =>
        {
            var ids = stream.Skip(i * shape.Sequence).Take(shape.Sequence).ToArray();
            var labels = ids.Select((id, t) => t < shape.Prompt ? Objectives.TokenLogProbs.IgnoreIndex : id).ToArray();
            return new TrainingExample(ids, labels);
        }).ToList();
    }

    /// <summary>Mean and largest |bf16 − float32| / float32 over the steps.</summary>
    public static (double Mean, double Max) RelativeDifference(LossCurve f32, LossCurve bf16)
    {
        var d = f32.Losses.Zip(bf16.Losses, (a, b) => Math.Abs(b - a) / Math.Abs(a)).ToList();
        return (d.Average(), d.Max());
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Objectives;
using static TorchSharp.torch;

namespace IftSharp.Training;

/// <summary>
/// The training loop for the single-target methods (SFT and IFT): seeded shuffling per epoch, AdamW, warm-up and
/// schedule, gradient clipping, one dispose scope per step, metrics per step (and to <c>metrics.jsonl</c>).
/// A method is an objective: the loop is the same.
/// </summary>
public static class Trainer
{
    public static IReadOnlyList<StepMetrics> Train(ICausalLM model, IReadOnlyList<TrainingExample> data, int padId, TrainerOptions o,
        Action<StepMetrics>? onStep = null, CancellationToken cancel = default)
    {
        if (o.Method is not ("sft" or "ift")) throw new Core.InputException($"--method: '{o.Method}'; this trainer runs sft or ift");
        if (data.Count == 0) throw new Core.InputException("the dataset has no examples");
        var parameters = model.parameters().ToList();
        var optimizer = optim.AdamW(parameters, lr: o.LearningRate, weight_decay: o.WeightDecay);
        using var frozen = o.Method == "ift" ? new FrozenEmbeddingCopy(model) : null;
        var iftOptions = new IftOptions { Lambda = o.Lambda, Gamma = o.Gamma };
        int warmup = LearningRateSchedule.WarmupSteps(o.WarmupRatio, o.MaxSteps);
        var order = new Random((int)o.Seed);
        var metricsPath = o.OutputDirectory is null ? null : Path.Combine(o.OutputDirectory, "metrics.jsonl");
        if (o.OutputDirectory is not null) Directory.CreateDirectory(o.OutputDirectory);

        var history = new List<StepMetrics>();
        var permutation = Array.Empty<int>();
        int cursor = 0, epoch = -1;
        for (int step = 0; step < o.MaxSteps && !cancel.IsCancellationRequested; step++)
        {
            var batchExamples = new List<TrainingExample>();
            while (batchExamples.Count < Math.Min(o.BatchSize, data.Count))
            {
                if (cursor >= permutation.Length)
                {
                    permutation = Enumerable.Range(0, data.Count).OrderBy(_ => order.Next()).ToArray();
                    cursor = 0; epoch++;
                }
                batchExamples.Add(data[permutation[cursor++]]);
            }
            var clock = Stopwatch.StartNew();
            double lr = o.LearningRate * LearningRateSchedule.Factor(o.Scheduler, step, o.MaxSteps, warmup);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;

            StepMetrics metrics;
            using (var scope = NewDisposeScope())
            {
                var batch = Batch.Collate(batchExamples, padId);
                optimizer.zero_grad();
                ObjectiveResult result;
                if (o.Method == "ift")
                    result = IftForward.Loss(model, batch.InputIds, batch.Labels, batch.AttentionMask, iftOptions, frozen);
                else
                {
                    var (logps, mask) = TokenLogProbs.Gather(model.Forward(batch.InputIds, batch.AttentionMask), batch.Labels);
                    result = Sft.Loss(logps, mask);
                }
                double loss = result.Loss.item<float>();
                if (!double.IsFinite(loss))
                    throw new InvalidOperationException($"the loss became {loss} at step {step + 1}; stopping (lower --learning-rate or check the data)");
                result.Loss.backward();
                double gradNorm = nn.utils.clip_grad_norm_(parameters, o.MaxGradNorm);
                optimizer.step();
                frozen?.Sync(model);
                metrics = new StepMetrics(step + 1, epoch + (double)cursor / data.Count, loss, lr, gradNorm,
                    batch.Tokens / clock.Elapsed.TotalSeconds, result.Metrics);
            }
            history.Add(metrics);
            if (metricsPath is not null) File.AppendAllText(metricsPath, ToJsonLine(metrics) + "\n");
            onStep?.Invoke(metrics);
        }
        return history;
    }

    public static string ToJsonLine(StepMetrics m)
    {
        var row = new Dictionary<string, object>
        {
            ["step"] = m.Step, ["epoch"] = Math.Round(m.Epoch, 4), ["loss"] = m.Loss, ["learning_rate"] = m.LearningRate,
            ["grad_norm"] = m.GradNorm, ["tokens_per_second"] = Math.Round(m.TokensPerSecond, 1),
        };
        foreach (var (k, v) in m.Objective) if (k != "loss") row[k] = v;
        return JsonSerializer.Serialize(row);
    }
}

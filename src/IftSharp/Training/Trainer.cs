using System.Diagnostics;
using System.Text.Json;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Objectives;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Training;

/// <summary>
/// The training loop for the single-target methods (SFT and IFT): a seeded data order per epoch, AdamW or RMSprop,
/// warm-up and schedule, gradient accumulation, clipping, one dispose scope per micro-batch, metrics per optimizer
/// step (and to <c>metrics.jsonl</c>), checkpoints that resume exactly, a checkpoint on cancellation (Ctrl-C).
/// A method is an objective: the loop is the same.
/// </summary>
public static class Trainer
{
    /// <summary>SFT or IFT on single-target examples.</summary>
    public static IReadOnlyList<StepMetrics> Train(ICausalLM model, IReadOnlyList<TrainingExample> data, int padId, TrainerOptions o,
        Action<StepMetrics>? onStep = null, CancellationToken cancel = default, IModelCheckpoint? checkpoint = null)
    {
        if (o.Method is not ("sft" or "ift")) throw new InputException($"--method: '{o.Method}'; single-target data trains sft or ift");
        using var frozen = o.Method == "ift" ? new FrozenEmbeddingCopy(model) : null;
        var iftOptions = new IftOptions { Lambda = o.Lambda, Gamma = o.Gamma };
        (ObjectiveResult, long) Loss(IReadOnlyList<TrainingExample> examples)
        {
            var batch = Batch.Collate(examples, padId);
            if (o.Method == "ift")
                return (IftForward.Loss(model, batch.InputIds, batch.Labels, batch.AttentionMask, iftOptions, frozen), batch.Tokens);
            var (logps, mask) = TokenLogProbs.Gather(model.Forward(batch.InputIds, batch.AttentionMask), batch.Labels);
            return (Sft.Loss(logps, mask), batch.Tokens);
        }
        return Loop(model, data, Loss, () => frozen?.Sync(model), o, onStep, cancel, checkpoint);
    }

    /// <summary>
    /// The one loop. <paramref name="batchLoss"/> turns a micro-batch of items into the method's objective (and its token count);
    /// <paramref name="afterStep"/> runs after each optimizer step (IFT re-syncs its frozen embedding there).
    /// </summary>
    private static IReadOnlyList<StepMetrics> Loop<TItem>(ICausalLM model, IReadOnlyList<TItem> data,
        Func<IReadOnlyList<TItem>, (ObjectiveResult Result, long Tokens)> batchLoss, Action afterStep, TrainerOptions o,
        Action<StepMetrics>? onStep, CancellationToken cancel, IModelCheckpoint? checkpoint)
    {
        if (data.Count == 0) throw new InputException("the dataset has no examples");
        if (o.GradientAccumulationSteps < 1) throw new InputException("--grad-accum: expected at least 1");
        var parameters = model.parameters().ToList();
        OptimizerHelper optimizer = o.Optimizer == OptimizerKind.RMSprop
            ? optim.RMSProp(parameters, lr: o.LearningRate, weight_decay: o.WeightDecay)
            : optim.AdamW(parameters, lr: o.LearningRate, weight_decay: o.WeightDecay);
        var output = o.OutputDirectory;
        if (output is not null) Directory.CreateDirectory(output);
        var metricsPath = output is null ? null : Path.Combine(output, "metrics.jsonl");

        int startStep = 0, epoch = 0, cursor = 0;
        if (o.Resume)
        {
            if (output is null || checkpoint is null) throw new InputException("--resume: needs an output folder and a model that can be checkpointed");
            var latest = TrainingCheckpoint.List(output).LastOrDefault();
            if (latest.Path is null) throw new InputException($"--resume: no checkpoint-* folder in {output}");
            var state = TrainingCheckpoint.ReadState(latest.Path);
            if (state.Method != o.Method || state.Seed != o.Seed)
                throw new InputException($"--resume: {latest.Path} was made by --method {state.Method} --seed {state.Seed}; expected the same settings");
            checkpoint.Load(latest.Path);
            optimizer.load_state_dict(Path.Combine(latest.Path, TrainingCheckpoint.OptimizerFile));
            afterStep(); // state derived from the weights (IFT's frozen embedding) follows the restored ones
            (startStep, epoch, cursor) = (state.Step, state.Epoch, state.Cursor);
            if (metricsPath is not null && File.Exists(metricsPath)) // drop steps logged after the checkpoint
                File.WriteAllLines(metricsPath, File.ReadAllLines(metricsPath).Where(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32() <= startStep));
        }

        int warmup = LearningRateSchedule.WarmupSteps(o.WarmupRatio, o.MaxSteps);
        var permutation = Permutation(data.Count, o.Seed, epoch);
        int batchSize = Math.Min(o.BatchSize, data.Count);

        var history = new List<StepMetrics>();
        int step = startStep;
        void Save() => TrainingCheckpoint.Write(output!, new TrainerState(step, epoch, cursor, o.Method, o.Seed), checkpoint!, optimizer, o.SaveTotalLimit);

        for (; step < o.MaxSteps; )
        {
            if (cancel.IsCancellationRequested) break;
            var clock = Stopwatch.StartNew();
            double lr = o.LearningRate * LearningRateSchedule.Factor(o.Scheduler, step, o.MaxSteps, warmup);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
            using (NewDisposeScope()) optimizer.zero_grad(); // the gradient handles it touches are temporaries too
            double loss = 0;
            long tokens = 0;
            IReadOnlyDictionary<string, double> objective = new Dictionary<string, double>();
            for (int micro = 0; micro < o.GradientAccumulationSteps; micro++)
            {
                var examples = new List<TItem>(batchSize);
                while (examples.Count < batchSize)
                {
                    if (cursor >= data.Count) { epoch++; cursor = 0; permutation = Permutation(data.Count, o.Seed, epoch); }
                    examples.Add(data[permutation[cursor++]]);
                }
                using var scope = NewDisposeScope();
                var (result, microTokens) = batchLoss(examples);
                double microLoss = result.Loss.item<float>();
                if (!double.IsFinite(microLoss))
                    throw new InvalidOperationException($"the loss became {microLoss} at step {step + 1}; stopping (lower --learning-rate or check the data)"
                        + (output is not null && TrainingCheckpoint.List(output).Count > 0 ? $"; the last good checkpoint is {TrainingCheckpoint.List(output)[^1].Path}" : ""));
                (result.Loss / o.GradientAccumulationSteps).backward();
                loss += microLoss / o.GradientAccumulationSteps;
                tokens += microTokens;
                objective = result.Metrics;
            }
            double gradNorm;
            using (var scope = NewDisposeScope())
            {
                gradNorm = nn.utils.clip_grad_norm_(parameters, o.MaxGradNorm);
                optimizer.step();
                afterStep();
            }
            step++;
            var metrics = new StepMetrics(step, epoch + (double)cursor / data.Count, loss, lr, gradNorm, tokens / clock.Elapsed.TotalSeconds, objective);
            history.Add(metrics);
            if (metricsPath is not null) File.AppendAllText(metricsPath, ToJsonLine(metrics) + "\n");
            onStep?.Invoke(metrics);
            if (output is not null && checkpoint is not null && o.SaveSteps > 0 && step % o.SaveSteps == 0 && step < o.MaxSteps) Save();
        }
        if (output is not null && checkpoint is not null && step > startStep) Save(); // at the end, or where Ctrl-C stopped the run
        return history;
    }

    /// <summary>The data order of an epoch, a pure function of the seed and the epoch, so a resumed run sees the same order.</summary>
    public static int[] Permutation(int count, long seed, int epoch)
    {
        var rng = new Random(unchecked((int)(seed * 1_000_003 + epoch)));
        var order = Enumerable.Range(0, count).ToArray();
        rng.Shuffle(order);
        return order;
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

using System.Diagnostics;
using System.Text.Json;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Training.Optimizers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Training;

/// <summary>
/// What the loop needs from a method bound to its data: the loss of a micro-batch (and its token count), each item's
/// length (for <c>--group-by-length</c>), the data of each round, and what to refresh after each optimizer step.
/// </summary>
public sealed record LoopObjective<TItem>
{
    public required Func<IReadOnlyList<TItem>, (ObjectiveResult Result, long Tokens)> Loss { get; init; }
    public required Func<TItem, int> Length { get; init; }
    /// <summary>
    /// The round hook: the items of round r (0-based). Called when a round starts, and for the current round on resume.
    /// Most methods have one round and return their dataset; SPIN generates each round's pairs here.
    /// </summary>
    public required Func<int, IReadOnlyList<TItem>> RoundData { get; init; }
    /// <summary>Rounds the steps are split into (evenly); the data order restarts with each round's data.</summary>
    public int Rounds { get; init; } = 1;
    /// <summary>
    /// After each optimizer step (and after a checkpoint is restored): state derived from the weights (IFT's frozen embedding).
    /// </summary>
    public Action AfterStep { get; init; } = static () => { };
    /// <summary>The held-out loss logged as <c>eval_loss</c> every <see cref="TrainerOptions.EvalSteps"/>; null: none.</summary>
    public Func<double>? Evaluate { get; init; }
}

/// <summary>
/// The one training loop, for every method: a seeded data order per epoch, AdamW or RMSprop, warm-up and schedule,
/// gradient accumulation, clipping, one dispose scope per micro-batch, metrics per optimizer step (the only writer of
/// <c>metrics.jsonl</c>), checkpoints that resume exactly, a checkpoint on cancellation (Ctrl-C), rounds for methods
/// that refresh their data (SPIN). A method is an objective bound to its batches (<see cref="Methods.ITrainingMethod"/>).
/// </summary>
public static class Trainer
{
    /// <summary>Trains <see cref="TrainingSession.Model"/>; <paramref name="method"/> names the run in its checkpoints.</summary>
    public static IReadOnlyList<StepMetrics> Run<TItem>(TrainingSession session, string method, LoopObjective<TItem> objective)
    {
        var o = session.Options;
        if (o.GradientAccumulationSteps < 1) throw new InputException("--grad-accum: expected at least 1");
        if (objective.Rounds < 1 || objective.Rounds > o.MaxSteps)
            throw new InputException($"rounds: {objective.Rounds}; expected between 1 and --max-steps ({o.MaxSteps})");
        LargeAllocations.Apply(() => ParameterCount(session.Model));
        if (session.Model is LlamaForCausalLM { Lora: not null } && session.ComputeCopy is not null)
            throw new ArgumentException("LoRA trains without a bf16 compute copy: load the frozen base in bfloat16 instead");
        var shadow = Shadow(session.Model, session.ComputeCopy);
        var parameters = session.TrainableParameters;
        OptimizerHelper optimizer = o.Optimizer == OptimizerKind.RMSprop
            ? new RmsPropOptimizer(parameters, o.LearningRate, weightDecay: o.WeightDecay)
            : new AdamWOptimizer(parameters, o.LearningRate, weightDecay: o.WeightDecay);
        var output = o.OutputDirectory;
        var checkpoint = session.Checkpoint;
        if (output is not null) Directory.CreateDirectory(output);
        var metricsPath = output is null ? null : Path.Combine(output, "metrics.jsonl");
        void AfterWeightsChange() { shadow?.PullWeights(); objective.AfterStep(); }

        int startStep = 0, epoch = 0, cursor = 0, round = 0;
        if (o.Resume)
        {
            if (output is null || checkpoint is null)
                throw new InputException("--resume: needs an output folder and a model that can be checkpointed");
            // The newest readable checkpoint: an unreadable newer one is reported and removed.
            var latest = TrainingCheckpoint.Latest(output, session.Log)
                ?? throw new InputException($"--resume: no checkpoint-* folder in {output}");
            var state = latest.State;
            if (state.Method != method || state.Seed != o.Seed)
            {
                throw new InputException(
                    $"--resume: {latest.Path} was made by --method {state.Method} --seed {state.Seed}; expected the same settings");
            }
            if (session.Fingerprint is not null) RunFingerprint.Check(state, session.Fingerprint, latest.Path);
            checkpoint.Load(latest.Path);
            optimizer.load_state_dict(Path.Combine(latest.Path, TrainingCheckpoint.OptimizerFile));
            AfterWeightsChange(); // state derived from the weights follows the restored ones
            (startStep, epoch, cursor, round) = (state.Step, state.Epoch, state.Cursor, state.Round);
            if (metricsPath is not null) TruncateMetrics(metricsPath, startStep);
        }
        else if (metricsPath is not null && File.Exists(metricsPath)) File.Delete(metricsPath); // a new run starts a new log

        int warmup = LearningRateSchedule.WarmupSteps(o.WarmupRatio, o.MaxSteps);
        int RoundOf(int s) => Enumerable.Range(0, objective.Rounds).Last(r => RoundStart(r, objective.Rounds, o.MaxSteps) <= s);
        var data = objective.RoundData(round);
        int batchSize = 0;
        int[]? lengths = null;
        int[] permutation = [];
        void UseData(IReadOnlyList<TItem> items)
        {
            if (items.Count == 0) throw new InputException("the dataset has no examples");
            data = items;
            batchSize = Math.Min(o.BatchSize, data.Count);
            lengths = o.GroupByLength ? data.Select(objective.Length).ToArray() : null;
            permutation = Order(epoch);
        }
        int[] Order(int e) => lengths is null
            ? Permutation(data.Count, o.Seed, e)
            : LengthGroupedOrder(lengths, batchSize * o.GradientAccumulationSteps, o.Seed, e);
        UseData(data);

        var history = new List<StepMetrics>();
        int step = startStep;
        TrainerState State() => new(step, epoch, cursor, method, o.Seed) { Round = round, Fingerprint = session.Fingerprint };
        void Save() => TrainingCheckpoint.Write(output!, State(), checkpoint!, optimizer, o.SaveTotalLimit);

        for (; step < o.MaxSteps;)
        {
            if (session.Cancel.IsCancellationRequested) break;
            if (RoundOf(step) != round) // a new round: its own data, read from the start
            {
                round = RoundOf(step);
                (epoch, cursor) = (0, 0);
                UseData(objective.RoundData(round));
            }
            var clock = Stopwatch.StartNew();
            double lr = o.LearningRate * LearningRateSchedule.Factor(o.Scheduler, step, o.MaxSteps, warmup);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
            using (NewDisposeScope()) optimizer.zero_grad(); // the gradient handles it touches are temporaries too
            double loss = 0;
            long tokens = 0;
            IReadOnlyDictionary<string, double> metricsOfStep = new Dictionary<string, double>();
            for (int micro = 0; micro < o.GradientAccumulationSteps; micro++)
            {
                var examples = new List<TItem>(batchSize);
                while (examples.Count < batchSize)
                {
                    if (cursor >= data.Count) { epoch++; cursor = 0; permutation = Order(epoch); }
                    examples.Add(data[permutation[cursor++]]);
                }
                using var scope = NewDisposeScope();
                var (result, microTokens) = objective.Loss(examples);
                double microLoss = Value(result.Loss);
                if (!double.IsFinite(microLoss)) throw Diverged("loss", microLoss, step + 1, output);
                result.Loss.DividedBy(o.GradientAccumulationSteps).backward();
                loss += microLoss / o.GradientAccumulationSteps;
                tokens += microTokens;
                metricsOfStep = result.Metrics;
            }
            shadow?.PushGradients();
            double gradNorm;
            using (var scope = NewDisposeScope())
            {
                gradNorm = o.MaxGradNorm > 0 ? nn.utils.clip_grad_norm_(parameters, o.MaxGradNorm) : GradientNorm(parameters);
                // A finite loss can still overflow its gradient; stepping with it would make every weight NaN.
                if (!double.IsFinite(gradNorm)) throw Diverged("gradient norm", gradNorm, step + 1, output);
                optimizer.step();
                AfterWeightsChange();
            }
            step++;
            if (objective.Rounds > 1) metricsOfStep = new Dictionary<string, double>(metricsOfStep) { ["round"] = round + 1 };
            if (objective.Evaluate is not null && (step % o.EvalSteps == 0 || step == o.MaxSteps))
                metricsOfStep = new Dictionary<string, double>(metricsOfStep) { ["eval_loss"] = objective.Evaluate() };
            double seconds = clock.Elapsed.TotalSeconds;
            var metrics = new StepMetrics(step, epoch + (double)cursor / data.Count, loss, lr, gradNorm, tokens / seconds, metricsOfStep)
            {
                Seconds = seconds,
            };
            history.Add(metrics);
            if (metricsPath is not null) File.AppendAllText(metricsPath, ToJsonLine(metrics) + "\n");
            session.OnStep?.Invoke(metrics);
            if (output is not null && checkpoint is not null && o.SaveSteps > 0 && step % o.SaveSteps == 0 && step < o.MaxSteps) Save();
        }
        // At the end (so a crash while the final model is written can still resume), or where Ctrl-C stopped the run.
        bool stopped = step < o.MaxSteps;
        if (output is not null && checkpoint is not null && step > startStep && (stopped || o.SaveSteps > 0)) Save();
        if (!stopped) session.OnFinished?.Invoke(optimizer);
        return history;
    }

    /// <summary>The stop of a run whose loss or gradient is no longer a number, naming the checkpoint to go back to.</summary>
    private static InputException Diverged(string what, double value, int step, string? output)
    {
        var last = output is null ? default : TrainingCheckpoint.List(output).LastOrDefault();
        return new InputException($"the {what} became {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} at step {step}; "
            + "stopping (lower --learning-rate or check the data)"
            + (last.Path is null ? "" : $"; the last good checkpoint is {last.Path}"));
    }

    /// <summary>
    /// <c>metrics.jsonl</c> back to the resumed step: the steps logged after the checkpoint go, and so does a line a
    /// crash cut short (it does not parse).
    /// </summary>
    private static void TruncateMetrics(string path, int step)
    {
        if (!File.Exists(path)) return;
        var kept = File.ReadLines(path).Where(line => StepOf(line) is int s && s <= step).ToList();
        AtomicFile.WriteAllText(path, string.Concat(kept.Select(l => l + "\n")));
    }

    private static int? StepOf(string line)
    {
        try
        {
            using var row = JsonDocument.Parse(line);
            var r = row.RootElement;
            return r.ValueKind == JsonValueKind.Object && r.TryGetProperty("step", out var s) && s.TryGetInt32(out var v) ? v : null;
        }
        catch (JsonException) { return null; }
    }

    /// <summary>
    /// The first step of round <paramref name="r"/> when <paramref name="total"/> steps are split into <paramref name="rounds"/>.
    /// </summary>
    public static int RoundStart(int r, int rounds, int total) => (int)((long)r * total / rounds);

    /// <summary>The mean loss over held-out items, without gradient, in batches of <paramref name="batchSize"/>.</summary>
    public static Func<double> MeanLoss<TItem>(
        IReadOnlyList<TItem> items, int batchSize, Func<IReadOnlyList<TItem>, (ObjectiveResult Result, long Tokens)> batchLoss)
    {
        return () =>
        {
            double total = 0;
            int batches = 0;
            for (int i = 0; i < items.Count; i += batchSize)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                total += Value(batchLoss(items.Skip(i).Take(batchSize).ToList()).Result.Loss);
                batches++;
            }
            return total / batches;
        };
    }

    /// <summary>A scalar tensor's value: float32 losses of float32 training, float64 ones of float64 models (the golden tests).</summary>
    private static double Value(Tensor scalar) => scalar.dtype == ScalarType.Float64
        ? scalar.item<double>()
        : scalar.to_type(ScalarType.Float32).item<float>();

    /// <summary>Every parameter of the model, trainable or frozen (0 for a model that is not an nn.Module).</summary>
    private static long ParameterCount(ICausalLM model) =>
        model is nn.Module m ? m.parameters().Sum(p => p.numel()) : 0;

    /// <summary>The total 2-norm of the gradients, when nothing is clipped.</summary>
    private static double GradientNorm(IReadOnlyList<Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        var norms = parameters.Where(p => p.grad is not null).Select(p => p.grad!.norm()).ToArray();
        return norms.Length == 0 ? 0 : Value(stack(norms).norm());
    }

    /// <summary>
    /// bfloat16 mixed precision when a compute copy is given: the copy runs the passes, the master keeps float32 weights and
    /// optimizer state.
    /// </summary>
    private static Bf16Shadow? Shadow(ICausalLM master, ICausalLM? compute) =>
        compute is null ? null
            : master is TorchSharp.torch.nn.Module m && compute is TorchSharp.torch.nn.Module c ? new Bf16Shadow(m, c)
            : throw new ArgumentException("bf16 training needs nn.Module models");

    /// <summary>The data order of an epoch, a pure function of the seed and the epoch, so a resumed run sees the same order.</summary>
    public static int[] Permutation(int count, long seed, int epoch)
    {
        // SplitMix64 of (seed, epoch): every pair gets its own, unrelated System.Random seed.
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)(epoch + 1) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        var rng = new Random((int)(z & 0x7FFFFFFF));
        var order = Enumerable.Range(0, count).ToArray();
        rng.Shuffle(order);
        return order;
    }

    /// <summary>
    /// The epoch's order with similar lengths side by side, as <c>transformers</c>' <c>group_by_length</c> does: the
    /// seeded permutation cut into mega-batches of up to 50 batches, each sorted by length, longest first, and the
    /// longest item of all moved to the very front (a run that runs out of memory does so at once). Batches pad less;
    /// which items share a batch still changes every epoch.
    /// </summary>
    public static int[] LengthGroupedOrder(IReadOnlyList<int> lengths, int batchSize, long seed, int epoch)
    {
        var order = Permutation(lengths.Count, seed, epoch);
        int megaBatch = batchSize * Math.Clamp(lengths.Count / (4 * batchSize), 1, 50);
        var grouped = order.Chunk(megaBatch).SelectMany(chunk => chunk.OrderByDescending(i => lengths[i]).ThenBy(i => i)).ToArray();
        int longest = Array.IndexOf(grouped, grouped.MaxBy(i => lengths[i]));
        (grouped[0], grouped[longest]) = (grouped[longest], grouped[0]);
        return grouped;
    }

    // A metric that is not a finite number (an objective's log-ratio overflowing) is written as "NaN" or "Infinity".
    private static readonly JsonSerializerOptions MetricsJson =
        new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static string ToJsonLine(StepMetrics m)
    {
        var row = new Dictionary<string, object>
        {
            ["step"] = m.Step, ["epoch"] = Math.Round(m.Epoch, 4), ["loss"] = m.Loss, ["learning_rate"] = m.LearningRate,
            ["grad_norm"] = m.GradNorm, ["tokens_per_second"] = Math.Round(m.TokensPerSecond, 1),
        };
        foreach (var (k, v) in m.Objective) if (k != "loss") row[k] = v;
        return JsonSerializer.Serialize(row, MetricsJson);
    }
}

using System.Diagnostics;
using System.Text.Json;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Training.Optimizers;
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
    /// <param name="evalData">Held-out examples whose mean loss is logged as <c>eval_loss</c> every <see cref="TrainerOptions.EvalSteps"/> steps.</param>
    public static IReadOnlyList<StepMetrics> Train(ICausalLM model, IReadOnlyList<TrainingExample> data, int padId, TrainerOptions o,
        Action<StepMetrics>? onStep = null, CancellationToken cancel = default, IModelCheckpoint? checkpoint = null,
        IReadOnlyList<TrainingExample>? evalData = null, ICausalLM? bf16Compute = null)
    {
        if (o.Method is not ("sft" or "ift")) throw new InputException($"--method: '{o.Method}'; single-target data trains sft or ift");
        var shadow = Shadow(model, bf16Compute);
        var master = model;
        model = bf16Compute ?? model; // the forward and backward run on the bfloat16 copy when there is one
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
        return Loop(master, data, Loss, () => { shadow?.PullWeights(); frozen?.Sync(model); }, o, onStep, cancel, checkpoint, Evaluator(evalData, Loss, o), shadow, e => e.Length);
    }

    /// <summary>The preference methods this trainer runs on chosen/rejected pairs.</summary>
    public static readonly string[] PreferenceMethods = ["dpo", "ipo", "orpo", "simpo", "exo"];

    /// <summary>Whether a preference method compares against a frozen reference model.</summary>
    public static bool NeedsReference(string method) => method is "dpo" or "ipo" or "exo";

    /// <summary>
    /// DPO, IPO, ORPO, SimPO or pairwise EXO on preference pairs: chosen and rejected go through one forward pass as a
    /// batch of 2B rows. <paramref name="reference"/> (frozen, no gradient) is required by DPO, IPO and EXO; with
    /// <paramref name="precomputeReference"/> its log-probs are computed once for the whole dataset before training.
    /// <see cref="TrainerOptions.Beta"/> null takes each method's default (DPO/IPO 0.1, ORPO 0.25, SimPO 2.0, EXO 0.5).
    /// </summary>
    public static IReadOnlyList<StepMetrics> TrainPreference(ICausalLM model, ICausalLM? reference, IReadOnlyList<PreferenceExample> data, int padId,
        TrainerOptions o, bool precomputeReference = false, Action<StepMetrics>? onStep = null, CancellationToken cancel = default, IModelCheckpoint? checkpoint = null,
        IReadOnlyList<PreferenceExample>? evalData = null, ICausalLM? bf16Compute = null)
    {
        var shadow = Shadow(model, bf16Compute);
        var master = model;
        model = bf16Compute ?? model;
        if (!PreferenceMethods.Contains(o.Method)) throw new InputException($"--method: '{o.Method}'; preference data trains {string.Join(", ", PreferenceMethods)}");
        if (NeedsReference(o.Method) && reference is null) throw new InputException($"--method {o.Method}: needs a reference model");
        double? beta = o.Beta;

        // Token log-probs [2B, T]: the chosen rows first, then the rejected.
        (Tensor Logps, Tensor Mask) Tokens(ICausalLM m, IReadOnlyList<PreferenceExample> pairs)
        {
            var batch = Batch.Collate([.. pairs.Select(p => p.Chosen), .. pairs.Select(p => p.Rejected)], padId);
            return TokenLogProbs.Gather(m.Forward(batch.InputIds, batch.AttentionMask), batch.Labels);
        }
        (SequenceLogps Chosen, SequenceLogps Rejected) Split(Tensor logps, Tensor mask, int b) =>
            (SequenceLogps.From(logps.narrow(0, 0, b), mask.narrow(0, 0, b)), SequenceLogps.From(logps.narrow(0, b, b), mask.narrow(0, b, b)));
        (SequenceLogps Chosen, SequenceLogps Rejected) Sequences(ICausalLM m, IReadOnlyList<PreferenceExample> pairs)
        {
            var (logps, mask) = Tokens(m, pairs);
            return Split(logps, mask, pairs.Count);
        }

        double[]? refChosen = null, refRejected = null;
        if (precomputeReference && reference is not null)
        {
            refChosen = new double[data.Count]; refRejected = new double[data.Count];
            for (int i = 0; i < data.Count; i += 8)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var slice = data.Skip(i).Take(8).ToList();
                var (c, r) = Sequences(reference, slice);
                c.Sum.to_type(ScalarType.Float64).data<double>().ToArray().CopyTo(refChosen, i);
                r.Sum.to_type(ScalarType.Float64).data<double>().ToArray().CopyTo(refRejected, i);
            }
        }

        var indexed = data.Select((pair, index) => (Index: index, Pair: pair)).ToList();
        (ObjectiveResult, long) Loss(IReadOnlyList<(int Index, PreferenceExample Pair)> items)
        {
            var pairs = items.Select(x => x.Pair).ToList();
            var (logps, mask) = Tokens(model, pairs);
            var (chosen, rejected) = Split(logps, mask, pairs.Count);
            SequenceLogps? rc = null, rr = null;
            if (NeedsReference(o.Method))
            {
                if (refChosen is not null)
                {
                    rc = new SequenceLogps(tensor(items.Select(x => refChosen[x.Index]).ToArray()).to_type(chosen.Sum.dtype), chosen.Length);
                    rr = new SequenceLogps(tensor(items.Select(x => refRejected![x.Index]).ToArray()).to_type(chosen.Sum.dtype), rejected.Length);
                }
                else
                    using (no_grad()) (rc, rr) = Sequences(reference!, pairs);
            }
            long tokens = pairs.Sum(p => (long)p.Chosen.Length + p.Rejected.Length);
            ObjectiveResult result = o.Method switch
            {
                "dpo" => Dpo.Loss(chosen, rejected, rc!, rr!, new DpoOptions { Beta = beta ?? 0.1 }),
                "ipo" => Dpo.Loss(chosen, rejected, rc!, rr!, new DpoOptions { Beta = beta ?? 0.1, LossType = DpoLossType.Ipo }),
                "exo" => Exo.PairLoss(chosen, rejected, rc!, rr!, new ExoOptions { BetaPi = beta ?? 0.5 }),
                "simpo" => SimPo.Loss(chosen, rejected, new SimPoOptions { Beta = beta ?? 2.0 }),
                _ => Orpo.Loss(chosen, rejected, Sft.Loss(logps.narrow(0, 0, pairs.Count), mask.narrow(0, 0, pairs.Count)).Loss, new OrpoOptions { Beta = beta ?? 0.25 }),
            };
            return (result, tokens);
        }
        // Evaluation pairs never use the precomputed training reference: their reference log-probs are computed live.
        var evalIndexed = evalData?.Select(pair => (Index: -1, Pair: pair)).ToList();
        (ObjectiveResult, long) EvalLoss(IReadOnlyList<(int Index, PreferenceExample Pair)> items)
        {
            var saved = (refChosen, refRejected);
            (refChosen, refRejected) = (null, null);
            try { return Loss(items); } finally { (refChosen, refRejected) = saved; }
        }
        return Loop(master, indexed, Loss, () => shadow?.PullWeights(), o, onStep, cancel, checkpoint, Evaluator(evalIndexed, EvalLoss, o), shadow,
            x => Math.Max(x.Pair.Chosen.Length, x.Pair.Rejected.Length));
    }

    /// <summary>
    /// EXO's K-sample reward form (official <c>exo-rw</c>): groups of K completions of one prompt with rewards; the
    /// policy's implied distribution over the group is pulled toward softmax(r/β_r) by the reverse KL.
    /// </summary>
    public static IReadOnlyList<StepMetrics> TrainRewardGroups(ICausalLM model, ICausalLM reference, IReadOnlyList<RewardGroup> data, int padId,
        TrainerOptions o, Action<StepMetrics>? onStep = null, CancellationToken cancel = default, IModelCheckpoint? checkpoint = null, ICausalLM? bf16Compute = null)
    {
        var shadow = Shadow(model, bf16Compute);
        var master = model;
        model = bf16Compute ?? model;
        Tensor Sums(ICausalLM m, IReadOnlyList<RewardGroup> groups)
        {
            var batch = Batch.Collate(groups.SelectMany(g => g.Completions).ToList(), padId);
            var (logps, mask) = TokenLogProbs.Gather(m.Forward(batch.InputIds, batch.AttentionMask), batch.Labels);
            return SequenceLogps.From(logps, mask).Sum.reshape(groups.Count, -1);
        }
        (ObjectiveResult, long) Loss(IReadOnlyList<RewardGroup> groups)
        {
            var policy = Sums(model, groups);
            Tensor referenceSums;
            using (no_grad()) referenceSums = Sums(reference, groups);
            var rewards = tensor(groups.SelectMany(g => g.Rewards).ToArray()).reshape(groups.Count, -1);
            var result = Exo.RewardLoss(policy, referenceSums, rewards, new ExoOptions { BetaPi = o.Beta ?? 0.5, BetaR = o.BetaR });
            return (result, groups.Sum(g => g.Completions.Sum(c => (long)c.Length)));
        }
        return Loop(master, data, Loss, () => shadow?.PullWeights(), o, onStep, cancel, checkpoint, null, shadow, g => g.Completions.Max(c => c.Length));
    }

    /// <summary>bfloat16 mixed precision when a compute copy is given: the copy runs the passes, the master keeps float32 weights and optimizer state.</summary>
    private static Bf16Shadow? Shadow(ICausalLM master, ICausalLM? compute) =>
        compute is null ? null
            : master is TorchSharp.torch.nn.Module m && compute is TorchSharp.torch.nn.Module c ? new Bf16Shadow(m, c)
            : throw new ArgumentException("bf16 training needs nn.Module models");

    /// <summary>The mean loss over held-out items, without gradient, in batches of the training batch size.</summary>
    private static Func<double>? Evaluator<TItem>(IReadOnlyList<TItem>? evalData, Func<IReadOnlyList<TItem>, (ObjectiveResult Result, long Tokens)> batchLoss, TrainerOptions o)
    {
        if (evalData is null || evalData.Count == 0) return null;
        return () =>
        {
            double total = 0;
            int batches = 0;
            for (int i = 0; i < evalData.Count; i += o.BatchSize)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                total += batchLoss(evalData.Skip(i).Take(o.BatchSize).ToList()).Result.Loss.item<float>();
                batches++;
            }
            return total / batches;
        };
    }

    /// <summary>
    /// The one loop. <paramref name="batchLoss"/> turns a micro-batch of items into the method's objective (and its token count);
    /// <paramref name="afterStep"/> runs after each optimizer step (IFT re-syncs its frozen embedding there).
    /// </summary>
    private static IReadOnlyList<StepMetrics> Loop<TItem>(ICausalLM model, IReadOnlyList<TItem> data,
        Func<IReadOnlyList<TItem>, (ObjectiveResult Result, long Tokens)> batchLoss, Action afterStep, TrainerOptions o,
        Action<StepMetrics>? onStep, CancellationToken cancel, IModelCheckpoint? checkpoint, Func<double>? evaluate, Bf16Shadow? shadow, Func<TItem, int> length)
    {
        if (data.Count == 0) throw new InputException("the dataset has no examples");
        if (o.GradientAccumulationSteps < 1) throw new InputException("--grad-accum: expected at least 1");
        LargeAllocations.KeepPagesAcrossSteps();
        var parameters = model.parameters().ToList();
        OptimizerHelper optimizer = o.Optimizer == OptimizerKind.RMSprop
            ? new RmsPropOptimizer(parameters, o.LearningRate, weightDecay: o.WeightDecay)
            : new AdamWOptimizer(parameters, o.LearningRate, weightDecay: o.WeightDecay);
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
        int batchSize = Math.Min(o.BatchSize, data.Count);
        int[]? lengths = o.GroupByLength ? data.Select(length).ToArray() : null;
        int[] Order(int e) => lengths is null ? Permutation(data.Count, o.Seed, e) : LengthGroupedOrder(lengths, batchSize * o.GradientAccumulationSteps, o.Seed, e);
        var permutation = Order(epoch);

        var history = new List<StepMetrics>();
        int step = startStep;
        void Save() => TrainingCheckpoint.Write(output!, new TrainerState(step, epoch, cursor, o.Method, o.Seed), checkpoint!, optimizer, o.SaveTotalLimit);

        for (; step < o.MaxSteps;)
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
                    if (cursor >= data.Count) { epoch++; cursor = 0; permutation = Order(epoch); }
                    examples.Add(data[permutation[cursor++]]);
                }
                using var scope = NewDisposeScope();
                var (result, microTokens) = batchLoss(examples);
                double microLoss = result.Loss.item<float>();
                if (!double.IsFinite(microLoss))
                    throw new InvalidOperationException($"the loss became {microLoss} at step {step + 1}; stopping (lower --learning-rate or check the data)"
                        + (output is not null && TrainingCheckpoint.List(output).Count > 0 ? $"; the last good checkpoint is {TrainingCheckpoint.List(output)[^1].Path}" : ""));
                result.Loss.DividedBy(o.GradientAccumulationSteps).backward();
                loss += microLoss / o.GradientAccumulationSteps;
                tokens += microTokens;
                objective = result.Metrics;
            }
            shadow?.PushGradients();
            double gradNorm;
            using (var scope = NewDisposeScope())
            {
                gradNorm = nn.utils.clip_grad_norm_(parameters, o.MaxGradNorm);
                optimizer.step();
                afterStep();
            }
            step++;
            if (evaluate is not null && o.EvalSteps > 0 && (step % o.EvalSteps == 0 || step == o.MaxSteps))
                objective = new Dictionary<string, double>(objective) { ["eval_loss"] = evaluate() };
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

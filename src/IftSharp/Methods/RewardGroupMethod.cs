using IftSharp.Data;
using IftSharp.Objectives;
using IftSharp.Training;
using static TorchSharp.torch;

namespace IftSharp.Methods;

/// <summary>
/// A batch of G groups of K completions: the policy's and the reference's summed log-probs [G, K], and the rewards [G, K].
/// </summary>
public sealed record GroupScores(Tensor PolicySums, Tensor ReferenceSums, Tensor Rewards);

/// <summary>Methods trained on K scored completions per prompt (EXO's reward form, the official repository's K-way DPO).</summary>
public abstract class RewardGroupMethod<TOptions>(string name, string displayName, string help, TOptions defaults)
    : TrainingMethod<TOptions>(name, displayName, help, defaults) where TOptions : class
{
    public override DataShape Shape => DataShape.RewardGroups;
    public override bool NeedsReference => true;
    public override bool SupportsEvaluation => false;

    /// <summary>The method's loss on a batch's scores: a pure function of log-probs and rewards.</summary>
    public abstract ObjectiveResult Loss(GroupScores scores, TOptions options);

    /// <summary>The logit temperature both models' log-probs are computed at.</summary>
    protected virtual double LogitTemperature(TOptions options) => 1.0;

    public override MethodData Read(string path, DataRequest request) => new MethodData<RewardGroup>(
        RewardDataset.Read(path, request.Tokenizer, request.Template, request.ReadOptions), "reward groups");

    public override MethodData Synthetic(SyntheticRequest r)
    {
        var rng = new Random((int)r.Seed);
        return MethodData.Of(Enumerable.Range(0, r.Items).Select(_ =>
        {
            var (a, b) = SyntheticData.SharedPrompt(rng, r);
            return new RewardGroup([a, b], [1.0, 0.0]);
        }).ToList(), "reward groups");
    }

    protected override IReadOnlyList<StepMetrics> Train(TrainingSession session, MethodData train, MethodData? eval, TOptions options)
    {
        var groups = Items<RewardGroup>(train);
        double temperature = LogitTemperature(options);
        var model = session.Reference ?? throw new InvalidOperationException($"--method {Name} needs a reference model");
        ReferenceLogps reference;
        if (session.PrecomputeReference)
        {
            reference = ReferenceLogps.Precompute(model, groups, g => g.Completions, session.PadId, session.Options.BatchSize, temperature,
                chunk: session.LogitsChunk);
            session.ReleaseReference();
        }
        else reference = ReferenceLogps.Live(model, session.PadId, temperature, session.LogitsChunk);

        (ObjectiveResult, long) BatchLoss(IReadOnlyList<(int Index, RewardGroup Group)> items)
        {
            var batch = items.Select(x => x.Group).ToList();
            int g = batch.Count, k = batch[0].Completions.Count;
            var tokens = SequenceScores.Of(session.Compute, SequenceScores.SlotMajor(batch, x => x.Completions), session.PadId, temperature,
                session.LogitsChunk);
            var policy = stack(Enumerable.Range(0, k).Select(s => tokens.Slot(s, g).Sum).ToArray(), 1); // [G, K]
            var referenceSums = reference.Sums(batch, items.Select(x => x.Index).ToList(), x => x.Completions, policy.dtype).t();
            var rewards = tensor(batch.SelectMany(x => x.Rewards).ToArray()).reshape(g, k);
            return (Loss(new GroupScores(policy, referenceSums, rewards), options), batch.Sum(x => x.Completions.Sum(c => (long)c.Length)));
        }
        var indexed = groups.Select((group, i) => (i, group)).ToList();
        var objective = new LoopObjective<(int Index, RewardGroup Group)>
        {
            Loss = BatchLoss,
            Length = x => x.Group.Completions.Max(c => c.Length),
            RoundData = _ => indexed,
        };
        return Trainer.Run(session, Name, objective);
    }
}

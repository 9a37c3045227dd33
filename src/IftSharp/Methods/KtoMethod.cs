using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Objectives;
using IftSharp.Training;
using static TorchSharp.torch;

namespace IftSharp.Methods;

/// <summary>
/// KTO (Ethayarajh et al., 2024) as TRL's <c>KTOTrainer</c> trains it (<see cref="Kto"/>): unpaired completions labelled
/// desirable or not, against a frozen reference, with the KL reference point estimated from the batch's own completions
/// paired with other rows' prompts (rotated by one: prompt i with completion i−1), without gradient. It is the only
/// method of its shape, so its batch building lives here.
/// </summary>
public sealed class KtoMethod() : TrainingMethod<KtoOptions>("kto", "KTO",
    "KTO: unpaired completions labelled desirable or not, each pushed above or below a KL reference point", new KtoOptions())
{
    public override DataShape Shape => DataShape.UnpairedLabelled;
    public override bool NeedsReference => true;
    /// <summary>The KL pairs depend on which rows share a batch, so their reference log-probs cannot be computed in advance.</summary>
    public override bool SupportsPrecomputedReference => false;

    protected override void Validate(KtoOptions options, TrainerOptions trainer)
    {
        if (trainer.BatchSize < 2)
            throw new InputException("--batch-size: KTO needs at least 2 (its KL term pairs each prompt with another row's completion)");
    }

    public override MethodData Read(string path, DataRequest request) => new MethodData<UnpairedExample>(
        UnpairedDataset.Read(path, request.Tokenizer, request.Template, request.ReadOptions), "labelled completions");

    public override MethodData Synthetic(SyntheticRequest r)
    {
        var rng = new Random((int)r.Seed);
        var items = Enumerable.Range(0, r.Items)
            .Select(i => new UnpairedExample(SyntheticData.Example(rng, r), i % 2 == 0))
            .ToList();
        return MethodData.Of(items, "labelled completions");
    }

    protected override IReadOnlyList<StepMetrics> Train(TrainingSession session, MethodData train, MethodData? eval, KtoOptions options)
    {
        var data = Items<UnpairedExample>(train);
        WarnAboutBalance(data, options, session.Log);
        var reference = session.Reference ?? throw new InvalidOperationException("--method kto needs a reference model");
        (ObjectiveResult, long) BatchLoss(IReadOnlyList<UnpairedExample> items)
        {
            var rows = items.Select(x => x.Example).ToList();
            var mismatched = items.Select((x, i) => Mismatched(x, items[(i + items.Count - 1) % items.Count], session.MaxLength)).ToList();
            var chunk = session.LogitsChunk;
            var policy = SequenceScores.Of(session.Compute, rows, session.PadId, chunk: chunk).Slot(0, rows.Count);
            Tensor klPolicy, referenceSums;
            using (no_grad())
            {
                klPolicy = SequenceScores.Of(session.Compute, mismatched, session.PadId, chunk: chunk).Slot(0, rows.Count).Sum;
                var referenceScores = SequenceScores.Of(reference, [.. rows, .. mismatched], session.PadId, chunk: chunk);
                referenceSums = stack([.. Enumerable.Range(0, 2).Select(s => referenceScores.Slot(s, rows.Count).Sum)]);
            }
            var desirable = tensor(items.Select(x => x.Desirable).ToArray());
            var result = Kto.Loss(
                policy, new SequenceLogps(referenceSums[0], policy.Length), desirable, klPolicy, referenceSums[1], options);
            return (result, rows.Sum(e => (long)e.Length) + mismatched.Sum(e => (long)e.Length));
        }
        var objective = new LoopObjective<UnpairedExample>
        {
            Loss = BatchLoss,
            Length = x => x.Example.Length,
            RoundData = _ => data,
            Evaluate = eval is null ? null : Trainer.MeanLoss(Items<UnpairedExample>(eval), session.Options.BatchSize, BatchLoss),
        };
        return Trainer.Run(session, Name, objective);
    }

    /// <summary>
    /// Row <paramref name="prompt"/>'s prompt followed by row <paramref name="completion"/>'s completion, labels on the completion.
    /// </summary>
    private static TrainingExample Mismatched(UnpairedExample prompt, UnpairedExample completion, int maxLength)
    {
        int p = prompt.PromptLength, c = completion.PromptLength;
        var ids = prompt.Example.InputIds[..p].Concat(completion.Example.InputIds[c..]).Take(maxLength).ToArray();
        var labels = Enumerable.Repeat(TokenLogProbs.IgnoreIndex, p).Concat(completion.Example.Labels[c..]).Take(maxLength).ToArray();
        return new TrainingExample(ids, labels);
    }

    /// <summary>TRL's warning when the weighted desirable/undesirable ratio lies outside [1, 4/3] (the KTO paper's Eq. 8).</summary>
    private static void WarnAboutBalance(IReadOnlyList<UnpairedExample> data, KtoOptions o, Action<string>? log)
    {
        int desirable = Math.Max(data.Count(x => x.Desirable), 1), undesirable = Math.Max(data.Count - desirable, 1);
        if (desirable == undesirable) return;
        double ratio = o.DesirableWeight * desirable / (o.UndesirableWeight * undesirable);
        if (ratio >= 1 && ratio <= 4.0 / 3) return;
        double lowD = undesirable * o.UndesirableWeight / desirable, lowU = desirable * o.DesirableWeight / undesirable / (4.0 / 3);
        log?.Invoke($"warning: {desirable} desirable and {undesirable} undesirable examples; "
            + $"with these weights their ratio is {ratio:F2}, outside "
            + $"the KTO paper's recommended [1, 1.33]: set --desirable-weight in [{lowD:F2}, {lowD * 4 / 3:F2}] or --undesirable-weight in "
            + $"[{lowU:F2}, {lowU * 4 / 3:F2}] (not both)");
    }
}

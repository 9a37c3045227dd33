using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Training;

namespace IftSharp.Methods;

/// <summary>
/// What a pairwise objective sees of a batch of B pairs: the policy's summed log-probs of the chosen and rejected
/// completions, the chosen rows' token scores (ORPO adds their NLL), and the reference's sums when the method has one.
/// </summary>
public sealed record PairScores(SequenceLogps PolicyChosen, SequenceLogps PolicyRejected, TokenScores ChosenTokens,
    SequenceLogps? ReferenceChosen = null, SequenceLogps? ReferenceRejected = null)
{
    public SequenceLogps RefChosen => ReferenceChosen ?? throw new InvalidOperationException("this method needs reference log-probs");
    public SequenceLogps RefRejected => ReferenceRejected ?? throw new InvalidOperationException("this method needs reference log-probs");
}

/// <summary>
/// The paired forward every pairwise method (and the benchmark) uses: chosen and rejected completions in one pass of 2B
/// rows, chosen first, split back into the two halves, with the reference's log-probs beside them.
/// </summary>
public static class PairedForward
{
    /// <summary>A pair's two sequences, chosen first (the row order of the paired forward).</summary>
    public static IReadOnlyList<TrainingExample> Sequences(PreferenceExample pair) => [pair.Chosen, pair.Rejected];

    /// <param name="indices">The pairs' positions in the dataset the reference log-probs were precomputed for.</param>
    /// <param name="chunk">Apply the LM head this many positions at a time (<see cref="TrainingSession.LogitsChunk"/>).</param>
    public static PairScores Score(ICausalLM policy, IReadOnlyList<PreferenceExample> pairs, IReadOnlyList<int> indices,
        ReferenceLogps? reference, int padId, double temperature = 1.0, int? chunk = null)
    {
        var tokens = SequenceScores.Of(policy, SequenceScores.SlotMajor(pairs, Sequences), padId, temperature, chunk);
        int b = pairs.Count;
        var (chosen, rejected) = (tokens.Slot(0, b), tokens.Slot(1, b));
        if (reference is null) return new PairScores(chosen, rejected, tokens.SlotTokens(0, b));
        var sums = reference.Sums(pairs, indices, Sequences, chosen.Sum.dtype);
        return new PairScores(chosen, rejected, tokens.SlotTokens(0, b),
            new SequenceLogps(sums[0], chosen.Length), new SequenceLogps(sums[1], rejected.Length));
    }

    /// <summary>Tokens of a batch of pairs (both completions with their prompts).</summary>
    public static long Tokens(IEnumerable<PreferenceExample> pairs) => pairs.Sum(p => (long)p.Chosen.Length + p.Rejected.Length);
}

/// <summary>A pairwise objective without its types (for callers that iterate the registry, such as Frozen Lake).</summary>
public interface IPairwiseObjective
{
    bool NeedsReference { get; }
    ObjectiveResult Loss(PairScores scores, object options);
    /// <summary>Rounds of self-play (the method makes its own rejected answers each round); 0 for ordinary pairwise methods.</summary>
    int SelfPlayRounds(object options);
}

/// <summary>The pairs of one round and the reference log-probs that go with them.</summary>
public sealed record PairRound(IReadOnlyList<PreferenceExample> Pairs, ReferenceLogps? Reference);

/// <summary>Methods trained on preference pairs (DPO, IPO, ORPO, SimPO, EXO; SPIN on pairs it generates).</summary>
public abstract class PairwiseMethod<TOptions>(string name, string displayName, string help, TOptions defaults)
    : TrainingMethod<TOptions>(name, displayName, help, defaults), IPairwiseObjective where TOptions : class
{
    public override DataShape Shape => DataShape.PreferencePairs;

    /// <summary>The method's loss on a batch's scores: a pure function of log-probs and masks.</summary>
    public abstract ObjectiveResult Loss(PairScores scores, TOptions options);

    public ObjectiveResult Loss(PairScores scores, object options) => Loss(scores, Typed(options));

    public int SelfPlayRounds(object options) => SelfPlayRounds(Typed(options));

    protected virtual int SelfPlayRounds(TOptions options) => 0;

    /// <summary>The logit temperature both models' log-probs are computed at (EXO's official code divides by 0.8).</summary>
    protected virtual double LogitTemperature(TOptions options) => 1.0;

    public override MethodData Read(string path, DataRequest request) => new MethodData<PreferenceExample>(
        PreferenceDataset.Read(path, request.Tokenizer, request.Template, request.ReadOptions), "preference pairs");

    public override MethodData Synthetic(SyntheticRequest r)
    {
        var rng = new Random((int)r.Seed);
        return MethodData.Of(Enumerable.Range(0, r.Items).Select(_ =>
        {
            var (chosen, rejected) = SyntheticData.SharedPrompt(rng, r);
            return new PreferenceExample(chosen, rejected);
        }).ToList(), "preference pairs");
    }

    protected override IReadOnlyList<StepMetrics> Train(TrainingSession session, MethodData train, MethodData? eval, TOptions options)
    {
        var pairs = Items<PreferenceExample>(train);
        var evalPairs = eval is null ? null : Items<PreferenceExample>(eval);
        double temperature = LogitTemperature(options);
        ReferenceLogps? trainReference = null, evalReference = null;
        if (NeedsReference)
        {
            var reference = session.Reference ?? throw new InvalidOperationException($"--method {Name} needs a reference model");
            if (session.PrecomputeReference)
            {
                // Evaluation pairs get their own table: the reference can then be freed before the first step.
                trainReference = Precompute(session, reference, pairs, temperature, "training");
                if (evalPairs is not null) evalReference = Precompute(session, reference, evalPairs, temperature, "evaluation");
                session.ReleaseReference();
            }
            else trainReference = evalReference = ReferenceLogps.Live(reference, session.PadId, temperature, session.LogitsChunk);
        }
        var evalRound = evalPairs is null ? null : new PairRound(evalPairs, evalReference);
        return TrainOnPairs(session, options, rounds: 1, _ => new PairRound(pairs, trainReference), evalRound);
    }

    private static ReferenceLogps Precompute(TrainingSession session, Models.ICausalLM reference, IReadOnlyList<PreferenceExample> pairs,
        double temperature, string which)
    {
        session.Log?.Invoke($"Computing the reference log-probs of {pairs.Count} {which} pairs once.");
        return ReferenceLogps.Precompute(reference, pairs, PairedForward.Sequences, session.PadId, session.Options.BatchSize, temperature,
            chunk: session.LogitsChunk);
    }

    /// <summary>
    /// The loop on pairs: <paramref name="round"/> gives each round's pairs and their reference (one round, unless the
    /// method regenerates its data, as SPIN does).
    /// </summary>
    protected IReadOnlyList<StepMetrics> TrainOnPairs(TrainingSession session, TOptions options, int rounds, Func<int, PairRound> round,
        PairRound? eval)
    {
        double temperature = LogitTemperature(options);
        PairRound current = null!;
        (ObjectiveResult, long) BatchLoss(IReadOnlyList<(int Index, PreferenceExample Pair)> items, PairRound from)
        {
            var pairs = items.Select(x => x.Pair).ToList();
            var scores = PairedForward.Score(session.Compute, pairs, items.Select(x => x.Index).ToList(), from.Reference, session.PadId,
                temperature, session.LogitsChunk);
            return (Loss(scores, options), PairedForward.Tokens(pairs));
        }
        static List<(int, PreferenceExample)> Indexed(IReadOnlyList<PreferenceExample> pairs) => pairs.Select((p, i) => (i, p)).ToList();
        var objective = new LoopObjective<(int Index, PreferenceExample Pair)>
        {
            Loss = items => BatchLoss(items, current),
            Length = x => Math.Max(x.Pair.Chosen.Length, x.Pair.Rejected.Length),
            Rounds = rounds,
            RoundData = r => Indexed((current = round(r)).Pairs),
            Evaluate = eval is null
                ? null
                : Trainer.MeanLoss(Indexed(eval.Pairs), session.Options.BatchSize, items => BatchLoss(items, eval)),
        };
        return Trainer.Run(session, Name, objective);
    }
}

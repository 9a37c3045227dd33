using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>Which target distribution pairwise EXO pulls the policy toward.</summary>
public enum ExoTarget
{
    /// <summary>The official code's hard-coded unnormalised log p = [0, −10] (ε ≈ 4.54e−5).</summary>
    Official,
    /// <summary>TRL's <c>exo_pair</c>: the normalised target (1−ε, ε) with ε = label smoothing.</summary>
    Smoothed,
}

/// <summary>Pairwise EXO's settings; defaults are the official code's (haozheji/exact-optimization).</summary>
public sealed record ExoOptions
{
    /// <summary>β_π, the coefficient on the summed log-ratio (official scripts: 0.5; TRL's DPO beta plays this role).</summary>
    [Setting("beta", "β_π: the coefficient on the summed log-ratio (the policy's implied reward)", Min = 0, MinExclusive = true)]
    public double BetaPi { get; init; } = 0.5;
    /// <summary>
    /// Logits of policy and reference are divided by this before the log-softmax. The official argparse default is 1;
    /// its scripts pass 0.8, the temperature they sampled the completions at.
    /// </summary>
    [Setting("logit-temperature",
        "Divide policy and reference logits by this (official scripts: 0.8, the sampling temperature of the data)",
        Min = 0, MinExclusive = true)]
    public double LogitTemperature { get; init; } = 1.0;
    [Setting("exo-target",
        "official: the code's unnormalised target log p = [0, -10]; smoothed: TRL's (1-ε, ε) with ε = --label-smoothing")]
    public ExoTarget TargetKind { get; init; } = ExoTarget.Official;
    [Setting("label-smoothing", "ε of the smoothed target (TRL recommends 1e-3)",
        Min = 0, Max = 1, MinExclusive = true, MaxExclusive = true)]
    public double LabelSmoothing { get; init; } = 1e-3;

    /// <summary>The pairwise target these settings describe.</summary>
    public Exo.PairTarget Target => TargetKind == ExoTarget.Official ? Exo.PairTarget.Official : Exo.PairTarget.Smoothed(LabelSmoothing);
}

/// <summary>EXO's K-sample reward form (official <c>exo-rw</c>): its settings, defaults from the official scripts.</summary>
public sealed record ExoRewardOptions
{
    [Setting("beta", "β_π: the coefficient on the summed log-ratio (the policy's implied reward)", Min = 0, MinExclusive = true)]
    public double BetaPi { get; init; } = 0.5;
    /// <summary>β_r, the reward temperature of the target softmax(r/β_r) (official scripts: 0.5).</summary>
    [Setting("beta-r", "β_r: temperature of the target distribution softmax(reward / β_r)", Min = 0, MinExclusive = true)]
    public double BetaR { get; init; } = 0.5;
    [Setting("logit-temperature",
        "Divide policy and reference logits by this (official scripts: 0.8, the sampling temperature of the data)",
        Min = 0, MinExclusive = true)]
    public double LogitTemperature { get; init; } = 1.0;
}

/// <summary>
/// EXO (Ji et al., 2024), "efficient exact optimization": minimise the reverse KL between the policy's implied
/// distribution over a group of completions, q = softmax(β_π·(log π − log π_ref)), and a target p, i.e.
/// Σ_i q_i (log q_i − log p_i), averaged over groups. As in the official code (haozheji/exact-optimization,
/// <c>src/align_stage/loss.py</c>): log-probs are summed over completion tokens and both models' logits are divided
/// by the sampling temperature (pass it to <see cref="TokenLogProbs.Gather"/>; official 0.8).
/// </summary>
public static class Exo
{
    /// <summary>Log-target (winner, loser) of the pairwise form.</summary>
    public readonly record struct PairTarget(double LogWinner, double LogLoser)
    {
        /// <summary>The official code's hard-coded unnormalised target log p = [0, −10] (ε ≈ 4.54e−5).</summary>
        public static PairTarget Official => new(0, -10);

        /// <summary>TRL's <c>exo_pair</c>: the normalised target (1−ε, ε); TRL recommends ε = 1e−3 and rejects 0.</summary>
        public static PairTarget Smoothed(double epsilon)
        {
            if (!(epsilon > 0 && epsilon < 1))
                throw new ArgumentOutOfRangeException(nameof(epsilon), "EXO's ε (label smoothing) must be in (0, 1)");
            return new(Math.Log(1 - epsilon), Math.Log(epsilon));
        }
    }

    /// <summary>Pairwise EXO with chosen (winner) and rejected (loser) completions.</summary>
    public static ObjectiveResult PairLoss(SequenceLogps policyChosen, SequenceLogps policyRejected,
        SequenceLogps referenceChosen, SequenceLogps referenceRejected, ExoOptions options)
    {
        using var scope = NewDisposeScope();
        var chosenRatio = policyChosen.Sum - referenceChosen.Sum;
        var rejectedRatio = policyRejected.Sum - referenceRejected.Sum;
        var loss = PairwiseLosses(chosenRatio - rejectedRatio, options.BetaPi, options.Target).mean();
        var metrics = PreferenceMetrics.Rewards(chosenRatio.Times(options.BetaPi), rejectedRatio.Times(options.BetaPi),
            policyChosen.Sum, policyRejected.Sum);
        return new ObjectiveResult(loss.MoveToOuterDisposeScope(), metrics);
    }

    /// <summary>
    /// Per-pair reverse KL for a log-ratio difference x: with u = β·x, q_w = σ(u), q_l = σ(−u),
    /// loss = q_w (log σ(u) − log p_w) + q_l (log σ(−u) − log p_l).
    /// </summary>
    public static Tensor PairwiseLosses(Tensor x, double beta, PairTarget target)
    {
        using var scope = NewDisposeScope();
        var u = x.Times(beta);
        var losses = (nn.functional.sigmoid(u) * nn.functional.logsigmoid(u).Minus(target.LogWinner))
            .Plus(nn.functional.sigmoid(-u) * nn.functional.logsigmoid(-u).Minus(target.LogLoser));
        return losses.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The K-sample reward form (official <c>exo-rw</c>): groups of K completions of one prompt with scalar rewards,
    /// target p = softmax(r/β_r). Inputs are [G, K] summed completion log-probs of policy and reference, and rewards.
    /// </summary>
    public static ObjectiveResult RewardLoss(Tensor policySums, Tensor referenceSums, Tensor rewards, ExoRewardOptions options)
    {
        using var scope = NewDisposeScope();
        var ratio = policySums - referenceSums;
        var logQ = ratio.Times(options.BetaPi).log_softmax(-1);
        var logP = rewards.to_type(logQ.dtype).DividedBy(options.BetaR).log_softmax(-1);
        var loss = (logQ.exp() * (logQ - logP)).sum(-1).mean();
        var metrics = RewardMetrics(ratio.Times(options.BetaPi), rewards, logQ, logP);
        return new ObjectiveResult(loss.MoveToOuterDisposeScope(), metrics);
    }

    /// <summary>
    /// The official repository's K-way "DPO" baseline (<c>dpo-rw</c>): the forward-KL / cross-entropy counterpart,
    /// −Σ_i p_i log q_i; with K = 2 and hard labels it is standard DPO.
    /// </summary>
    public static ObjectiveResult SoftLabelDpoLoss(Tensor policySums, Tensor referenceSums, Tensor rewards, ExoRewardOptions options)
    {
        using var scope = NewDisposeScope();
        var ratio = policySums - referenceSums;
        var logQ = ratio.Times(options.BetaPi).log_softmax(-1);
        var logP = rewards.to_type(logQ.dtype).DividedBy(options.BetaR).log_softmax(-1);
        var loss = (-(logP.exp() * logQ).sum(-1)).mean();
        var metrics = RewardMetrics(ratio.Times(options.BetaPi), rewards, logQ, logP);
        return new ObjectiveResult(loss.MoveToOuterDisposeScope(), metrics);
    }

    private static Dictionary<string, double> RewardMetrics(Tensor impliedRewards, Tensor rewards, Tensor logQ, Tensor logP)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var best = rewards.argmax(-1);
        var predicted = impliedRewards.argmax(-1);
        return new Dictionary<string, double>
        {
            ["rewards/mean"] = ObjectiveResult.Mean(impliedRewards),
            ["rewards/accuracies"] = ObjectiveResult.Mean(best.eq(predicted).to_type(ScalarType.Float64)),
            ["kl/reverse"] = ObjectiveResult.Mean((logQ.exp() * (logQ - logP)).sum(-1)),
        };
    }
}

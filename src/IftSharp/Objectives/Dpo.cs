using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>The pairwise preference losses of TRL's <c>DPOTrainer</c>.</summary>
public enum DpoLossType
{
    /// <summary>DPO: −(1−ε)·log σ(βx) − ε·log σ(−βx) (conservative DPO with label smoothing ε).</summary>
    Sigmoid,
    /// <summary>SLiC-style hinge: relu(1 − βx).</summary>
    Hinge,
    /// <summary>IPO: (x − 1/(2β))², on length-normalised log-probs as TRL does.</summary>
    Ipo,
    /// <summary>EXO pairwise in TRL's form (ε = label smoothing, must be &gt; 0); see <see cref="Exo"/>.</summary>
    ExoPair,
}

/// <summary>DPO's settings; the defaults are TRL's and the DPO paper's.</summary>
public sealed record DpoOptions
{
    [Setting("beta", "β: how strongly the policy is kept near the reference (the implicit KL penalty's weight)",
        Min = 0, MinExclusive = true)]
    public double Beta { get; init; } = 0.1;
    [Setting("label-smoothing", "ε: the probability that a pair's preference label is flipped (conservative DPO; exo_pair's target)",
        Min = 0, Max = 0.5, MaxExclusive = true)]
    public double LabelSmoothing { get; init; }
    [Setting("loss-type", "sigmoid (DPO), hinge (SLiC), ipo (length-normalised IPO, as TRL), exo_pair (TRL's pairwise EXO; needs ε > 0)")]
    public DpoLossType LossType { get; init; } = DpoLossType.Sigmoid;
}

/// <summary>
/// DPO and its pairwise relatives. x = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)) with summed
/// completion log-probs (TRL, and <c>preference_loss</c> of the official IFT repository). Reference log-probs are inputs,
/// so they can be precomputed once.
/// </summary>
public static class Dpo
{
    public static ObjectiveResult Loss(SequenceLogps policyChosen, SequenceLogps policyRejected,
        SequenceLogps referenceChosen, SequenceLogps referenceRejected, DpoOptions options)
    {
        using var scope = NewDisposeScope();
        bool normalise = options.LossType == DpoLossType.Ipo;
        Tensor Logp(SequenceLogps s) => normalise ? s.Mean() : s.Sum;
        var pc = Logp(policyChosen);
        var pr = Logp(policyRejected);
        var chosenRatio = pc - Logp(referenceChosen);
        var rejectedRatio = pr - Logp(referenceRejected);
        var x = chosenRatio - rejectedRatio;
        double beta = options.Beta, eps = options.LabelSmoothing;

        Tensor losses = options.LossType switch
        {
            DpoLossType.Sigmoid => nn.functional.logsigmoid(x.Times(beta)).Times(-(1 - eps))
                                   - nn.functional.logsigmoid(x.Times(-beta)).Times(eps),
            DpoLossType.Hinge => nn.functional.relu(x.Times(beta).SubtractedFrom(1)),
            DpoLossType.Ipo => x.Minus(1 / (2 * beta)).Power(2),
            DpoLossType.ExoPair => Exo.PairwiseLosses(x, beta, Exo.PairTarget.Smoothed(eps)),
            _ => throw new ArgumentOutOfRangeException(nameof(options)),
        };
        var loss = losses.mean();
        var metrics = PreferenceMetrics.Rewards(chosenRatio.Times(beta), rejectedRatio.Times(beta), pc, pr);
        return new ObjectiveResult(loss.MoveToOuterDisposeScope(), metrics);
    }
}

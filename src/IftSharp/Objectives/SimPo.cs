using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

public sealed record SimPoOptions
{
    /// <summary>β (SimPO paper and the IFT paper's baseline setting: 2.0).</summary>
    [Setting("beta", "β: scale of the length-normalised log-prob margin", Min = 0, MinExclusive = true)]
    public double Beta { get; init; } = 2.0;
    /// <summary>Target margin as a ratio γ/β (IFT paper's baseline setting: 0.8).</summary>
    [Setting("gamma-beta-ratio", "γ/β: the target reward margin, as a ratio to β", Min = 0)]
    public double GammaBetaRatio { get; init; } = 0.8;
    [Setting("label-smoothing", "ε: the probability that a pair's preference label is flipped", Min = 0, Max = 0.5, MaxExclusive = true)]
    public double LabelSmoothing { get; init; }
}

/// <summary>
/// SimPO (Meng et al., 2024): reference-free, length-normalised. x = mean log π(y_w) − mean log π(y_l) − γ/β,
/// loss = −(1−ε)·log σ(βx) − ε·log σ(−βx) (TRL's CPO <c>simpo</c> form, with γ given as γ/β like the SimPO code).
/// </summary>
public static class SimPo
{
    public static ObjectiveResult Loss(SequenceLogps policyChosen, SequenceLogps policyRejected, SimPoOptions options)
    {
        using var scope = NewDisposeScope();
        var lw = policyChosen.Mean();
        var ll = policyRejected.Mean();
        double beta = options.Beta, eps = options.LabelSmoothing;
        var x = (lw - ll).Minus(options.GammaBetaRatio);
        var loss = (nn.functional.logsigmoid(x.Times(beta)).Times(-(1 - eps)) - nn.functional.logsigmoid(x.Times(-beta)).Times(eps)).mean();
        var metrics = PreferenceMetrics.Rewards(lw.Times(beta), ll.Times(beta), lw, ll);
        return new ObjectiveResult(loss.MoveToOuterDisposeScope(), metrics);
    }
}

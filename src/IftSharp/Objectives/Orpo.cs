using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

public sealed record OrpoOptions
{
    /// <summary>Weight of the odds-ratio term (official IFT repository <c>config/loss/orpo.yaml</c>: 0.25).</summary>
    [Setting("beta", "β: weight of the odds-ratio term beside the NLL of the chosen answer", Min = 0, MinExclusive = true)]
    public double Beta { get; init; } = 0.25;
}

/// <summary>
/// ORPO (Hong et al., 2024), as TRL and the official IFT repository compute it: with length-normalised log-probs
/// l_w, l_l, log-odds = (l_w − l_l) − (log(1 − e^{l_w}) − log(1 − e^{l_l})), loss = NLL(chosen) − β·mean log σ(log-odds).
/// No reference model.
/// </summary>
public static class Orpo
{
    /// <param name="policyChosen">Policy log-probs of the chosen completions.</param>
    /// <param name="policyRejected">Policy log-probs of the rejected completions.</param>
    /// <param name="chosenNll">The SFT loss on the chosen completions (scalar, with gradient).</param>
    /// <param name="options">β.</param>
    public static ObjectiveResult Loss(SequenceLogps policyChosen, SequenceLogps policyRejected, Tensor chosenNll, OrpoOptions options)
    {
        using var scope = NewDisposeScope();
        var lw = policyChosen.Mean();
        var ll = policyRejected.Mean();
        var logOdds = (lw - ll) - (Log1mExp(lw) - Log1mExp(ll));
        var ratio = nn.functional.logsigmoid(logOdds);
        var loss = chosenNll - ratio.mean().Times(options.Beta);

        var metrics = PreferenceMetrics.Rewards(lw.Times(options.Beta), ll.Times(options.Beta), lw, ll);
        metrics["log_odds_ratio"] = ObjectiveResult.Mean(ratio);
        metrics["log_odds_chosen"] = ObjectiveResult.Mean(logOdds);
        metrics["nll_loss"] = ObjectiveResult.Scalar(chosenNll);
        return new ObjectiveResult(loss.MoveToOuterDisposeScope(), metrics);
    }

    /// <summary>log(1 − e^x) for x &lt; 0, accurate on both sides of −ln 2 (Mächler, 2012).</summary>
    public static Tensor Log1mExp(Tensor x)
    {
        using var scope = NewDisposeScope();
        var nearZero = x.GreaterThan(-Math.Log(2));
        var viaExpm1 = (-x.AtMost(-1e-30).expm1()).log();
        var viaLog1p = (-x.AtMost(-Math.Log(2)).exp()).log1p();
        return where(nearZero, viaExpm1, viaLog1p).MoveToOuterDisposeScope();
    }
}

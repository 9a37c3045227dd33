using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>KTO's settings; the defaults are TRL's <c>KTOConfig</c> and the KTO paper's.</summary>
public sealed record KtoOptions
{
    [Setting("beta", "β: how strongly the policy is kept near the reference", Min = 0, MinExclusive = true)]
    public double Beta { get; init; } = 0.1;
    [Setting("desirable-weight", "Weight of the desirable (label true) examples' losses", Min = 0, MinExclusive = true)]
    public double DesirableWeight { get; init; } = 1.0;
    [Setting("undesirable-weight", "Weight of the undesirable (label false) examples' losses", Min = 0, MinExclusive = true)]
    public double UndesirableWeight { get; init; } = 1.0;
}

/// <summary>
/// KTO (Ethayarajh et al., 2024), as TRL's <c>KTOTrainer</c> computes it, on unpaired completions labelled desirable or
/// not. With r = log π(y|x) − log π_ref(y|x) (summed completion log-probs) and the reference point
/// z = max(0, mean over the batch of the same log-ratio on mismatched pairs (x_i, y_{i−1})), taken without gradient:
/// a desirable example's loss is 1 − σ(β(r − z)), an undesirable one's 1 − σ(β(z − r)), each times its weight; the loss
/// is their mean over the batch.
/// </summary>
public static class Kto
{
    /// <param name="policy">The policy's summed completion log-probs, [B].</param>
    /// <param name="reference">The reference's, [B].</param>
    /// <param name="desirable">The labels, [B] bool.</param>
    /// <param name="klPolicy">The policy's summed log-probs of the mismatched completions, [B] (no gradient is taken).</param>
    /// <param name="klReference">The reference's, [B].</param>
    /// <param name="options">β and the weights.</param>
    public static ObjectiveResult Loss(SequenceLogps policy, SequenceLogps reference, Tensor desirable, Tensor klPolicy, Tensor klReference,
        KtoOptions options)
    {
        using var scope = NewDisposeScope();
        Tensor kl;
        using (no_grad()) kl = (klPolicy.detach() - klReference).mean().AtLeast(0);
        var ratio = policy.Sum - reference.Sum;
        double beta = options.Beta;
        var chosenLosses = nn.functional.sigmoid((ratio - kl).Times(beta)).SubtractedFrom(1).Times(options.DesirableWeight);
        var rejectedLosses = nn.functional.sigmoid((kl - ratio).Times(beta)).SubtractedFrom(1).Times(options.UndesirableWeight);
        var loss = where(desirable, chosenLosses, rejectedLosses).mean();

        var metrics = new Dictionary<string, double> { ["kl"] = ObjectiveResult.Scalar(kl) };
        using (no_grad())
        {
            var rewards = ratio.detach().Times(beta);
            long chosen = desirable.sum().item<long>(), rejected = desirable.shape[0] - chosen;
            metrics["count/chosen"] = chosen;
            metrics["count/rejected"] = rejected;
            double MeanWhere(Tensor values, Tensor where) => ObjectiveResult.Scalar((values * where.to_type(values.dtype)).sum())
                / ObjectiveResult.Scalar(where.sum());
            var notDesirable = desirable.logical_not();
            if (chosen > 0)
            {
                metrics["rewards/chosen"] = MeanWhere(rewards, desirable);
                metrics["logps/chosen"] = MeanWhere(policy.Sum.detach(), desirable);
            }
            if (rejected > 0)
            {
                metrics["rewards/rejected"] = MeanWhere(rewards, notDesirable);
                metrics["logps/rejected"] = MeanWhere(policy.Sum.detach(), notDesirable);
            }
            if (chosen > 0 && rejected > 0) metrics["rewards/margins"] = metrics["rewards/chosen"] - metrics["rewards/rejected"];
        }
        return new ObjectiveResult(loss.MoveToOuterDisposeScope(), metrics);
    }
}

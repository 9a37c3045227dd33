using IftSharp.Objectives;

namespace IftSharp.Methods;

/// <summary>EXO's K-sample reward form (official <c>exo-rw</c>, <see cref="Exo.RewardLoss"/>).</summary>
public sealed class ExoRewardMethod() : RewardGroupMethod<ExoRewardOptions>("exo-rw", "EXO-rw",
    "EXO's reward form: K scored completions per prompt, the policy pulled toward softmax(reward / β_r) by the reverse KL",
    new ExoRewardOptions())
{
    protected override double LogitTemperature(ExoRewardOptions options) => options.LogitTemperature;

    public override ObjectiveResult Loss(GroupScores s, ExoRewardOptions options) =>
        Exo.RewardLoss(s.PolicySums, s.ReferenceSums, s.Rewards, options);
}

using IftSharp.Objectives;

namespace IftSharp.Methods;

/// <summary>The official EXO repository's K-way DPO baseline (<c>dpo-rw</c>, <see cref="Exo.SoftLabelDpoLoss"/>).</summary>
public sealed class DpoRewardMethod() : RewardGroupMethod<ExoRewardOptions>("dpo-rw", "DPO-rw",
    "K-way DPO on scored completions: the cross-entropy (forward KL) from softmax(reward / β_r), the EXO paper's baseline",
    new ExoRewardOptions())
{
    protected override double LogitTemperature(ExoRewardOptions options) => options.LogitTemperature;

    public override ObjectiveResult Loss(GroupScores s, ExoRewardOptions options) =>
        Exo.SoftLabelDpoLoss(s.PolicySums, s.ReferenceSums, s.Rewards, options);
}

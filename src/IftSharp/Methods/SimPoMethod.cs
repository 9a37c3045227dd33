using IftSharp.Objectives;

namespace IftSharp.Methods;

/// <summary>SimPO (Meng et al., 2024): a margin between length-normalised log-probs, without a reference.</summary>
public sealed class SimPoMethod() : PairwiseMethod<SimPoOptions>("simpo", "SimPO",
    "SimPO: the length-normalised log-prob margin of chosen over rejected, beyond a target margin, without a reference model",
    new SimPoOptions())
{
    public override bool NeedsReference => false;

    public override ObjectiveResult Loss(PairScores s, SimPoOptions options) => SimPo.Loss(s.PolicyChosen, s.PolicyRejected, options);
}

using IftSharp.Objectives;

namespace IftSharp.Methods;

/// <summary>ORPO (Hong et al., 2024): NLL of the chosen answer minus β times the log-sigmoid of the odds ratio; no reference.</summary>
public sealed class OrpoMethod() : PairwiseMethod<OrpoOptions>("orpo", "ORPO",
    "ORPO: the chosen answer's NLL plus an odds-ratio preference term, without a reference model", new OrpoOptions())
{
    public override bool NeedsReference => false;

    public override ObjectiveResult Loss(PairScores s, OrpoOptions options) =>
        Orpo.Loss(s.PolicyChosen, s.PolicyRejected, Sft.Loss(s.ChosenTokens.Logps, s.ChosenTokens.Mask).Loss, options);
}

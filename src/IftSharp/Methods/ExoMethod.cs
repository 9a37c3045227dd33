using IftSharp.Core;
using IftSharp.Objectives;
using IftSharp.Training;

namespace IftSharp.Methods;

/// <summary>Pairwise EXO (Ji et al., 2024) as its official code computes it (<see cref="Exo.PairLoss"/>).</summary>
public sealed class ExoMethod() : PairwiseMethod<ExoOptions>("exo", "EXO",
    "EXO: the reverse KL between the policy's implied preference over the pair and the target, against a reference model",
    new ExoOptions())
{
    public override bool NeedsReference => true;

    protected override double LogitTemperature(ExoOptions options) => options.LogitTemperature;

    protected override void Validate(ExoOptions options, TrainerOptions trainer)
    {
        if (options.TargetKind == ExoTarget.Official && options.LabelSmoothing != TypedDefaults.LabelSmoothing)
            throw new InputException("--label-smoothing: only used with --exo-target smoothed (the official target has no ε)");
    }

    public override ObjectiveResult Loss(PairScores s, ExoOptions options) =>
        Exo.PairLoss(s.PolicyChosen, s.PolicyRejected, s.RefChosen, s.RefRejected, options);
}

using IftSharp.Core;
using IftSharp.Objectives;
using IftSharp.Training;

namespace IftSharp.Methods;

/// <summary>
/// DPO and its pairwise relatives as TRL's <c>DPOTrainer</c> computes them (<see cref="Dpo"/>); registered twice, as
/// <c>dpo</c> and as <c>ipo</c> (the same objective with IPO's loss type by default).
/// </summary>
public sealed class DpoMethod(string name, string displayName, string help, DpoOptions defaults)
    : PairwiseMethod<DpoOptions>(name, displayName, help, defaults)
{
    public override bool NeedsReference => true;

    public override ObjectiveResult Loss(PairScores s, DpoOptions options) =>
        Dpo.Loss(s.PolicyChosen, s.PolicyRejected, s.RefChosen, s.RefRejected, options);

    protected override void Validate(DpoOptions options, TrainerOptions trainer)
    {
        if (options.LossType == DpoLossType.ExoPair && options.LabelSmoothing <= 0)
            throw new InputException("--loss-type exo_pair: needs --label-smoothing > 0 (TRL recommends 1e-3)");
    }
}

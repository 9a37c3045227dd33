using IftSharp.Objectives;

namespace IftSharp.Methods;

/// <summary>Supervised fine-tuning: the negative log-likelihood of the target tokens.</summary>
public sealed class SftMethod() : SingleTargetMethod<SftOptions>("sft", "SFT",
    "Supervised fine-tuning: the NLL of the target tokens (prompt and template tokens masked, as TRL's SFTTrainer)", new SftOptions())
{
    public override ObjectiveResult Loss(TargetScores scores, SftOptions options)
    {
        var s = scores.Plain();
        return Sft.Loss(s.Logps, s.Mask, options.Reduction);
    }
}

using IftSharp.Objectives;

namespace IftSharp.Methods;

/// <summary>
/// Intuitive Fine-Tuning (Hua et al., 2024) as the official code computes it: a no-grad teacher-forced pass gives the
/// model's own greedy predictions, a second pass runs on the fused embedding (1−λ)·E(s*) + λ·E(ŝ), and each token's
/// NLL is weighted by the discounted sum of the later tokens' losses (γ). See <see cref="Ift"/> and <see cref="IftForward"/>.
/// </summary>
public sealed class IftMethod() : SingleTargetMethod<IftOptions>("ift", "IFT",
    "Intuitive Fine-Tuning: SFT data only; the loss of a fused-input pass, each token weighted by the later tokens' losses",
    new IftOptions())
{
    public override ObjectiveResult Loss(TargetScores scores, IftOptions options)
    {
        var fused = scores.Fused(options.Lambda, options.TrainFusionEmbedding);
        var result = Ift.Loss(fused.Scores.Logps, fused.Scores.Mask, options);
        var metrics = new Dictionary<string, double>(result.Metrics) { ["ift/first_pass_nll"] = fused.FirstPassNll };
        return new ObjectiveResult(result.Loss, metrics);
    }
}

using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>The reward metrics TRL logs for every pairwise preference method.</summary>
internal static class PreferenceMetrics
{
    public static Dictionary<string, double> Rewards(Tensor chosenRewards, Tensor rejectedRewards, Tensor chosenLogps, Tensor rejectedLogps)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return new Dictionary<string, double>
        {
            ["rewards/chosen"] = ObjectiveResult.Mean(chosenRewards),
            ["rewards/rejected"] = ObjectiveResult.Mean(rejectedRewards),
            ["rewards/accuracies"] = ObjectiveResult.Mean(chosenRewards.gt(rejectedRewards).to_type(ScalarType.Float64)),
            ["rewards/margins"] = ObjectiveResult.Mean(chosenRewards - rejectedRewards),
            ["logps/chosen"] = ObjectiveResult.Mean(chosenLogps),
            ["logps/rejected"] = ObjectiveResult.Mean(rejectedLogps),
        };
    }
}

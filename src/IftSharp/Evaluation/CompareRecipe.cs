namespace IftSharp.Evaluation;

/// <summary>One training stage: a method and its share of the optimizer steps.</summary>
public sealed record RecipeStage(string Method, double StepShare);

/// <summary>
/// A row of the comparison: the stages that turn the base model into this method's model. Sequential recipes
/// split the same step budget (half SFT, half the second method), so every row trains for the same number of steps.
/// </summary>
public sealed record CompareRecipe(string Name, IReadOnlyList<RecipeStage> Stages)
{
    public static IReadOnlyList<CompareRecipe> All { get; } =
    [
        new("SFT", [new("sft", 1)]),
        new("IFT", [new("ift", 1)]),
        new("DPO", [new("dpo", 1)]),
        new("ORPO", [new("orpo", 1)]),
        new("EXO", [new("exo", 1)]),
        new("SimPO", [new("simpo", 1)]),
        new("SFT→DPO", [new("sft", 0.5), new("dpo", 0.5)]),
        new("SFT→IFT", [new("sft", 0.5), new("ift", 0.5)]),
    ];

    /// <summary>The steps of each stage for a total budget; the last stage takes the remainder so the total is exact.</summary>
    public IReadOnlyList<int> StageSteps(int total)
    {
        var steps = Stages.Select(s => (int)Math.Round(s.StepShare * total)).ToArray();
        steps[^1] = total - steps.Take(steps.Length - 1).Sum();
        return steps;
    }
}

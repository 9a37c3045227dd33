using IftSharp.Methods;

namespace IftSharp.Evaluation;

/// <summary>
/// One training stage: a registered method, its share of the optimizer steps, and settings that differ from the
/// method's defaults (none of a method's coefficients: those stay at the registry's defaults).
/// </summary>
public sealed record RecipeStage(string Method, double StepShare, IReadOnlyDictionary<string, string>? Settings = null);

/// <summary>
/// A row of the comparison: the stages that turn the base model into this method's model. Sequential recipes
/// split the same step budget (half SFT, half the second method), so every row trains for the same number of steps.
/// </summary>
public sealed record CompareRecipe(string Name, IReadOnlyList<RecipeStage> Stages)
{
    /// <summary>
    /// Every registered method whose data the comparison makes (single-target answers, preference pairs, the same pairs
    /// unpaired, self-play from the answers), trained from the base model, then the sequential recipes SFT→DPO and SFT→IFT.
    /// </summary>
    public static IReadOnlyList<CompareRecipe> All { get; } =
    [
        .. MethodRegistry.All.Where(m => m.Shape is not DataShape.RewardGroups).Select(m => new CompareRecipe(m.DisplayName, [new(m.Name, 1)])),
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

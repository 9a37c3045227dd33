using IftSharp.Core;
using IftSharp.Methods;

namespace IftSharp.Evaluation;

/// <summary>
/// One training stage: a registered method, its share of the optimizer steps, and settings that differ from the
/// method's defaults (none of a method's coefficients in the method rows: those stay at the registry's defaults; the
/// IFT ablations switch off or change one of IFT's ingredients).
/// </summary>
public sealed record RecipeStage(string Method, double StepShare, IReadOnlyDictionary<string, string>? Settings = null);

/// <summary>
/// A row of the comparison: the stages that turn the base model into this method's model. Sequential recipes
/// split the same step budget (half SFT, half the second method), so every row trains for the same number of steps.
/// <see cref="IsAblation"/> marks the IFT variants, which the report tables apart.
/// </summary>
public sealed record CompareRecipe(string Name, IReadOnlyList<RecipeStage> Stages, bool IsAblation = false)
{
    /// <summary>
    /// Every registered method whose data the comparison makes (single-target answers, preference pairs, the same pairs
    /// unpaired, self-play from the answers), trained from the base model, then the sequential recipes SFT→DPO and
    /// SFT→IFT, then IFT with one ingredient changed at a time.
    /// </summary>
    public static IReadOnlyList<CompareRecipe> All { get; } =
    [
        .. MethodRegistry.All.Where(m => m.Shape is not DataShape.RewardGroups)
            .Select(m => new CompareRecipe(m.DisplayName, [new(m.Name, 1)])),
        new("SFT→DPO", [new("sft", 0.5), new("dpo", 0.5)]),
        new("SFT→IFT", [new("sft", 0.5), new("ift", 0.5)]),
        .. Ablations(),
    ];

    /// <summary>
    /// IFT's ingredients separated: the fused input alone (γ 0: every token weighted alike, as SFT), the propagation
    /// weights alone (λ 0: the input is the reference answer, as SFT), the weights without their gradient (the paper's
    /// pseudo-code), and the fused input embedded through the trainable embedding (LLaMA-Factory's variant).
    /// </summary>
    private static IEnumerable<CompareRecipe> Ablations()
    {
        CompareRecipe Ift(string name, string setting, string value) =>
            new(name, [new("ift", 1, new Dictionary<string, string> { [setting] = value })], IsAblation: true);
        yield return Ift("IFT λ only (γ 0)", "gamma", "0");
        yield return Ift("IFT γ only (λ 0)", "lambda", "0");
        yield return Ift("IFT detached weights", "detach-weights", "true");
        yield return Ift("IFT trainable fusion", "train-fusion-embedding", "true");
    }

    /// <summary>The recipes named (all when <paramref name="names"/> is null), in <see cref="All"/>'s order.</summary>
    public static IReadOnlyList<CompareRecipe> Select(IReadOnlyList<string>? names)
    {
        if (names is null) return All;
        foreach (var name in names.Where(n => All.All(r => r.Name != n)))
            throw new InputException($"--recipes: '{name}' is not a recipe; expected some of {string.Join(", ", All.Select(r => r.Name))}");
        return All.Where(r => names.Contains(r.Name)).ToList();
    }

    /// <summary>The steps of each stage for a total budget; the last stage takes the remainder so the total is exact.</summary>
    public IReadOnlyList<int> StageSteps(int total)
    {
        var steps = Stages.Select(s => (int)Math.Round(s.StepShare * total)).ToArray();
        steps[^1] = total - steps.Take(steps.Length - 1).Sum();
        return steps;
    }
}

using System.Text.Json;

namespace IftSharp.Evaluation;

/// <summary>The base model and how it is pretrained (stage 1 of <c>iftsharp compare</c>).</summary>
public sealed record BaseModelSettings
{
    public int HiddenSize { get; init; } = 128;
    public int IntermediateSize { get; init; } = 344;
    public int Layers { get; init; } = 4;
    public int AttentionHeads { get; init; } = 4;
    public int KeyValueHeads { get; init; } = 2;
    public int MaxLength { get; init; } = 384;
    public int Documents { get; init; } = 32000;
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 32;
    public double LearningRate { get; init; } = 3e-3;
    public int Seed { get; init; }
}

/// <summary>
/// Fine-tuning shared by every method (stages 2 and 3): the prompts, optimizer steps, batch and learning-rate grid are
/// the same for all; only each method's own coefficients differ, at their defaults in <see cref="Methods.MethodRegistry"/>.
/// </summary>
public sealed record FineTuneSettings
{
    public int ReasoningPrompts { get; init; } = 600;
    public int FactPrompts { get; init; } = 600;
    public int Steps { get; init; } = 160;
    public int BatchSize { get; init; } = 16;
    /// <summary>The shared learning rate (the first table: every method at it); one of <see cref="LearningRates"/>.</summary>
    public double LearningRate { get; init; } = 3e-4;
    /// <summary>
    /// The grid every method is trained over (the same tuning budget for all); the lr is chosen per method on validation.
    /// </summary>
    public IReadOnlyList<double> LearningRates { get; init; } = [1e-4, 3e-4, 1e-3];
    /// <summary>
    /// The first seeds, the tuning seeds: each trains every recipe at every rate of <see cref="LearningRates"/>, and each
    /// recipe's rate is chosen from their validation scores only. Each later seed trains a recipe only at the shared rate
    /// and at its chosen one (once when they coincide); the tables average over all seeds. 1 to the number of seeds.
    /// </summary>
    public int TuningSeeds { get; init; } = 1;
    /// <summary>Validation points per run: every 1/N of the (last stage's) steps, the final model being the last.</summary>
    public int Checkpoints { get; init; } = 4;
    /// <summary>Sampling temperature for the base model's candidate rejected answers.</summary>
    public double SampleTemperature { get; init; } = 1.0;
    public int MaxNewTokens { get; init; } = 100;
}

/// <summary>The evaluation sets (stage 4): the same items for every method and seed.</summary>
public sealed record EvalSettings
{
    public int ReasoningItems { get; init; } = 200;
    public int FactItems { get; init; } = 200;
    public int MultipleChoiceItems { get; init; } = 200;
    public int HeldOutTexts { get; init; } = 200;
    public int MaxNewTokens { get; init; } = 100;
    public int Seed { get; init; } = 1234;
}

/// <summary>
/// The validation items (checkpoint and learning-rate selection): their own split, disjoint from the fine-tuning and
/// evaluation items, the same for every method and seed. Every multiple-choice question of the split by default.
/// </summary>
public sealed record ValidationSettings
{
    public int ReasoningItems { get; init; } = 100;
    public int FactItems { get; init; } = 100;
    public int MultipleChoiceItems { get; init; } = int.MaxValue;
    public int Seed { get; init; } = 4321;
}

/// <summary>Settings of the language-model comparison; <see cref="Quick"/> is the smoke-test preset.</summary>
public sealed record CompareSettings
{
    public int Seeds { get; init; } = 5;
    public BaseModelSettings Base { get; init; } = new();
    public FineTuneSettings FineTune { get; init; } = new();
    public ValidationSettings Validation { get; init; } = new();
    public EvalSettings Eval { get; init; } = new();
    /// <summary>The recipes to run, by name (<see cref="CompareRecipe.All"/>'s; null: all of them).</summary>
    public IReadOnlyList<string>? Recipes { get; init; }

    /// <summary>The whole path at a size that runs in a few minutes: a smaller base, fewer steps and items, one seed.</summary>
    public static CompareSettings Quick { get; } = new()
    {
        Seeds = 1,
        Base = new BaseModelSettings
        {
            HiddenSize = 128, IntermediateSize = 344, Layers = 2, AttentionHeads = 4, KeyValueHeads = 2,
            Documents = 6000, Steps = 300, BatchSize = 16,
        },
        FineTune = new FineTuneSettings { ReasoningPrompts = 160, FactPrompts = 160, Steps = 32, BatchSize = 8 },
        Validation = new ValidationSettings { ReasoningItems = 24, FactItems = 24 },
        Eval = new EvalSettings { ReasoningItems = 48, FactItems = 48, MultipleChoiceItems = 48, HeldOutTexts = 48 },
    };

    /// <summary>A short stable hash of settings, naming the cached stage folders: other settings, other folders.</summary>
    public static string Hash(params object[] parts)
    {
        var text = string.Join("|", parts.Select(p => p as string ?? JsonSerializer.Serialize(p, p.GetType())));
        return TaskSplits.Fnv1a(text).ToString("x16")[..10];
    }
}

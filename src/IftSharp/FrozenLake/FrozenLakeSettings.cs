namespace IftSharp.FrozenLake;

/// <summary>
/// Settings of the Frozen Lake experiment. The paper gives only λ, γ, β for the language setting and says the toy
/// "keeps similar hyper-parameters": each method takes its registry defaults (the language setting's); the network
/// size, optimizer and steps are IftSharp's choices (README).
/// </summary>
public sealed record FrozenLakeSettings
{
    public string Map { get; init; } = FrozenLakeMap.DefaultLayout;
    public int Seeds { get; init; } = 10;
    /// <summary>Fine-tuning steps per method (full-batch Adam steps).</summary>
    public int Steps { get; init; } = 200;
    public double LearningRate { get; init; } = 0.01;
    public int Hidden { get; init; } = 32;
    /// <summary>Discount of value iteration.</summary>
    public double Discount { get; init; } = 0.99;
    /// <summary>Steps to fit the optimal parameterised policy to π*.</summary>
    public int OptimalFitSteps { get; init; } = 500;
    /// <summary>
    /// Settings of methods that differ from their registry defaults: method name → setting name → value
    /// (<c>ift</c> → <c>lambda</c> → <c>0.5</c>).
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>>? MethodSettings { get; init; }
    /// <summary>A cell counts as explored when the policy's state distribution reaches this probability on it at some step.</summary>
    public double ExploredThreshold { get; init; } = 0.05;
}

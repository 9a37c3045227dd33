namespace IftSharp.FrozenLake;

/// <summary>
/// Settings of the Frozen Lake experiment. The paper gives only λ, γ, β for the language setting and says the toy
/// "keeps similar hyper-parameters"; the network size, optimizer and steps are IftSharp's choices (README).
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
    public double Lambda { get; init; } = 0.2;
    public double Gamma { get; init; } = 0.95;
    public double DpoBeta { get; init; } = 0.1;
    public double OrpoBeta { get; init; } = 0.25;
    public double ExoBeta { get; init; } = 0.5;
    public double SimPoBeta { get; init; } = 2.0;
    public double SimPoGammaBetaRatio { get; init; } = 0.8;
    /// <summary>A cell counts as explored when the policy's state distribution reaches this probability on it at some step.</summary>
    public double ExploredThreshold { get; init; } = 0.05;
}

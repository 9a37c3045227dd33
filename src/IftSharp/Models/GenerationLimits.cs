using IftSharp.Core;

namespace IftSharp.Models;

/// <summary>
/// The valid values of the generation settings a user types (<c>iftsharp generate</c>), declared once as settings and
/// checked before a model is loaded. The ranges are those transformers' <c>GenerationConfig.validate</c> enforces,
/// with this library's "off" values (temperature 0 is greedy, top-k 0 and top-p 1 keep every token).
/// </summary>
public sealed record GenerationLimits
{
    public string Prompt { get; init; } = "";
    /// <summary>Whether the prompt goes through the chat template (which adds tokens of its own, so it may be empty).</summary>
    public bool Chat { get; init; }
    [Setting("max-new-tokens", "Most tokens to generate", Min = 1)]
    public int MaxNewTokens { get; init; } = 64;
    [Setting("temperature", "Sampling temperature; 0 is greedy", Min = 0)]
    public double Temperature { get; init; }
    [Setting("top-k", "Sample among the K most likely tokens (0: all)", Min = 0)]
    public int TopK { get; init; }
    [Setting("top-p", "Nucleus sampling mass (1: all)", Min = 0, MinExclusive = true, Max = 1)]
    public double TopP { get; init; } = 1.0;
    [Setting("repetition-penalty", "Hugging Face's repetition penalty (1: none)", Min = 0, MinExclusive = true)]
    public double RepetitionPenalty { get; init; } = 1.0;

    /// <summary>Throws an <see cref="InputException"/> naming the first flag out of its range.</summary>
    public void Check()
    {
        if (Prompt.Length == 0 && !Chat)
            throw new InputException("--prompt: empty; expected the text to continue (or --chat, whose template adds the turn's tokens)");
        Settings.Validate(this);
    }
}

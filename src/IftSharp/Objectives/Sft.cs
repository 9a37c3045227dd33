using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>How SFT averages the token NLL.</summary>
public enum SftReduction
{
    /// <summary>Sum of NLL over every completion token of the batch, divided by their count (TRL's default).</summary>
    Token,
    /// <summary>Mean over sequences of each sequence's mean token NLL (the official IFT repository's SFT).</summary>
    Sequence,
}

/// <summary>SFT's one setting.</summary>
public sealed record SftOptions
{
    [Setting("loss-reduction",
        "token: mean NLL over the batch's completion tokens (TRL); sequence: mean of each sequence's mean (official IFT code)")]
    public SftReduction Reduction { get; init; } = SftReduction.Token;
}

/// <summary>Supervised fine-tuning: negative log-likelihood of the completion tokens (prompt and padding masked).</summary>
public static class Sft
{
    public static ObjectiveResult Loss(Tensor logps, Tensor mask, SftReduction reduction = SftReduction.Token)
    {
        using var scope = NewDisposeScope();
        var nll = -(logps * mask);
        Tensor loss = reduction switch
        {
            SftReduction.Token => nll.sum() / mask.sum().AtLeast(1),
            SftReduction.Sequence => (nll.sum(1) / mask.sum(1).AtLeast(1)).mean(),
            _ => throw new ArgumentOutOfRangeException(nameof(reduction)),
        };
        var metrics = new Dictionary<string, double>
        {
            ["loss"] = ObjectiveResult.Scalar(loss),
            ["num_tokens"] = ObjectiveResult.Scalar(mask.sum()),
        };
        return new ObjectiveResult(loss.MoveToOuterDisposeScope(), metrics);
    }
}

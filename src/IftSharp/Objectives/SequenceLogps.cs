using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>Per-sequence summed log-probability of the completion tokens, [B], and the completion lengths, [B].</summary>
public sealed record SequenceLogps(Tensor Sum, Tensor Length)
{
    /// <summary>Sums masked per-token log-probs over time.</summary>
    public static SequenceLogps From(Tensor logps, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var sum = (logps * mask).sum(1);
        var length = mask.sum(1);
        return new SequenceLogps(sum.MoveToOuterDisposeScope(), length.MoveToOuterDisposeScope());
    }

    /// <summary>Length-normalised log-prob (mean over completion tokens), as IPO, ORPO and SimPO use.</summary>
    public Tensor Mean() => Sum / Length.AtLeast(1);
}

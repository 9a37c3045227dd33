using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>Per-token log-probabilities of the labels, with the causal shift done once, here.</summary>
public static class TokenLogProbs
{
    /// <summary>The label value that excludes a position from the loss (as in Hugging Face).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// <c>Logps[b,t] = log_softmax(logits[b,t] / temperature)[labels[b,t+1]]</c>, shape [B, T-1], and
    /// <c>Mask[b,t] = labels[b,t+1] != -100</c> as a float tensor; masked positions hold 0.
    /// Logits are upcast to float32 (float64 stays float64) before the softmax. <paramref name="temperature"/> is
    /// EXO's logit temperature (official code: 0.8 on policy and reference); 1 elsewhere.
    /// </summary>
    public static (Tensor Logps, Tensor Mask) Gather(Tensor logits, Tensor labels, double temperature = 1.0)
    {
        if (logits.dim() != 3) throw new ArgumentException($"logits must be [B, T, V], got {Shape(logits)}");
        if (labels.dim() != 2 || labels.shape[0] != logits.shape[0] || labels.shape[1] != logits.shape[1])
            throw new ArgumentException($"labels must be [B, T] matching logits {Shape(logits)}, got {Shape(labels)}");
        using var scope = NewDisposeScope();
        var dtype = logits.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        long t = logits.shape[1];
        var shifted = logits.narrow(1, 0, t - 1).to_type(dtype);
        if (temperature != 1.0) shifted = shifted.DividedBy(temperature);
        var targets = labels.narrow(1, 1, t - 1);
        var mask = targets.NotEqual(IgnoreIndex);
        var safeTargets = targets.MaskedFill(mask.logical_not(), 0);
        // x[target] − logsumexp(x) is log_softmax at the target without materialising the [B, T, V] log-softmax.
        var logps = shifted.gather(-1, safeTargets.unsqueeze(-1)).squeeze(-1) - shifted.logsumexp(-1);
        var maskF = mask.to_type(dtype);
        logps = logps * maskF;
        return (logps.MoveToOuterDisposeScope(), maskF.MoveToOuterDisposeScope());
    }

    private static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}

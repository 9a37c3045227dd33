using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>What is propagated backwards along the sequence to weight each token (official <c>propagation_type</c>).</summary>
public enum IftPropagation
{
    /// <summary>The token NLL divided by the completion length (official default).</summary>
    Loss,
    /// <summary>The token NLL itself.</summary>
    Logps,
    /// <summary>The label mask: weights depend only on position.</summary>
    Mask,
}

/// <summary>How the discounted sums are sharpened before normalisation (official <c>propagation_norm</c>).</summary>
public enum IftNorm
{
    /// <summary>Unchanged (official default).</summary>
    L1,
    /// <summary>Squared.</summary>
    L2,
    /// <summary>Exponentiated (a softmax over time; its denominator cancels in the final rescaling).</summary>
    Softmax,
    /// <summary><c>log(c + 1)</c>.</summary>
    Log,
}

/// <summary>IFT hyperparameters. Defaults are the official repository's (<c>config/loss/ift.yaml</c>, run scripts).</summary>
public sealed record IftOptions
{
    /// <summary>Decay γ of the dynamic relation propagation; 0 is plain SFT weighting.</summary>
    [Setting("gamma",
        "γ: decay of the dynamic relation propagation (each token weighted by the discounted loss of the later ones); 0 is SFT",
        Min = 0, Max = 1)]
    public double Gamma { get; init; } = 0.95;
    /// <summary>Weight λ of the model's own one-step-ahead prediction in the fused embedding (temporal residual connection).</summary>
    [Setting("lambda", "λ: weight of the model's own one-step-ahead prediction in the fused input embedding", Min = 0, Max = 1)]
    public double Lambda { get; init; } = 0.2;
    /// <summary>
    /// Compute the token weights from detached log-probs (the paper's v1/v2 pseudo-code). The official code
    /// keeps the gradient through the weights and their normalisation, which is the default.
    /// </summary>
    [Setting("detach-weights", "Compute the token weights without gradient (the paper's v1/v2 pseudo-code; the official code keeps it)")]
    public bool DetachWeights { get; init; }
    /// <summary>
    /// Embed through the model's own (trainable) embedding for the fused input, as the LLaMA-Factory derivative does.
    /// The official code embeds with a frozen copy re-synced after each step, so the input embedding gets no gradient.
    /// </summary>
    [Setting("train-fusion-embedding",
        "Embed the fused input with the model's own embedding, so it trains (LLaMA-Factory's variant; official: a frozen copy)")]
    public bool TrainFusionEmbedding { get; init; }
    [Setting("propagation",
        "What is propagated back along the sequence: loss (token NLL / length), logps (token NLL) or mask (position only)")]
    public IftPropagation Propagation { get; init; } = IftPropagation.Loss;
    [Setting("propagation-norm", "How the discounted sums are sharpened before normalisation: l1 (unchanged), l2, softmax or log")]
    public IftNorm Norm { get; init; } = IftNorm.L1;
}

/// <summary>
/// The IFT loss as the official code computes it (TsinghuaC3I/Intuitive-Fine-Tuning, <c>src/trainers.py</c>
/// <c>get_cumsum_weight</c> and the IFT branch of the loss): with ℓ_t the NLL of target token t from the second,
/// fused-input pass, n_b the number of targets of sequence b and item_t = ℓ_t / n_b,
/// c_t = Σ_{j≥t} γ^{j−t} item_j (discounted sum over the future), w_t = c_t·n_b / Σ_t c_t (weights average to 1),
/// loss = mean_b Σ_t ℓ_t·w_t / n_b. The paper writes α^{N−t} and a plain dot product; the code is followed here.
/// </summary>
public static class Ift
{
    public static ObjectiveResult Loss(Tensor logps, Tensor mask, IftOptions options)
    {
        using var scope = NewDisposeScope();
        var n = mask.sum(1).AtLeast(1); // [B]
        var nll = -(logps * mask); // [B, T]
        var weights = Weights(options.DetachWeights ? nll.detach() : nll, mask, n, options);
        var loss = ((nll * weights).sum(1) / n).mean();

        var metrics = new Dictionary<string, double>
        {
            ["loss"] = ObjectiveResult.Scalar(loss),
            ["nll"] = ObjectiveResult.Scalar((nll.sum(1) / n).mean()),
            ["num_tokens"] = ObjectiveResult.Scalar(mask.sum()),
            ["ift/weight_max"] = ObjectiveResult.Scalar(weights.max()),
        };
        return new ObjectiveResult(loss.MoveToOuterDisposeScope(), metrics);
    }

    /// <summary>Per-token weights [B, T]: zero off the mask, averaging 1 over each sequence's targets.</summary>
    public static Tensor Weights(Tensor nll, Tensor mask, Tensor n, IftOptions options)
    {
        using var scope = NewDisposeScope();
        if (options.Gamma == 0) return mask.alias().MoveToOuterDisposeScope(); // official special case: plain SFT weighting

        var item = options.Propagation switch
        {
            IftPropagation.Loss => nll / n.unsqueeze(1),
            IftPropagation.Logps => nll,
            IftPropagation.Mask => mask,
            _ => throw new ArgumentOutOfRangeException(nameof(options)),
        } * mask;

        var c = ReverseDiscountedCumsum(item, options.Gamma) * mask;
        c = options.Norm switch
        {
            IftNorm.L1 => c,
            IftNorm.L2 => c * c,
            IftNorm.Softmax => c.exp(),
            IftNorm.Log => c.Plus(1).log(),
            _ => throw new ArgumentOutOfRangeException(nameof(options)),
        } * mask;
        var total = c.sum(1, keepdim: true);
        // A sequence whose targets all have zero loss has no mass to spread; its loss is 0 whatever the weights.
        var w = c * n.unsqueeze(1) / total.AtLeast(1e-30);
        return w.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// c_t = Σ_{j≥t} γ^{j−t} x_j along dim 1, as one product with an upper-triangular [T, T] matrix of powers of γ.
    /// Unlike a cumsum of γ^{-t}-scaled terms it cannot overflow for long sequences, and autograd handles it
    /// (its backward is the forward-direction discounted sum, as torch-discounted-cumsum's).
    /// </summary>
    public static Tensor ReverseDiscountedCumsum(Tensor x, double gamma)
    {
        using var scope = NewDisposeScope();
        long t = x.shape[1];
        var idx = ScalarArithmetic.Range(0, t, device: x.device);
        var distance = idx.unsqueeze(0) - idx.unsqueeze(1); // [t, j] = j - t
        var upper = distance.GreaterOrEqual(0);
        var powers = pow(tensor(gamma, dtype: x.dtype, device: x.device), distance.AtLeast(0).to_type(x.dtype));
        var g = powers * upper.to_type(x.dtype); // G[t, j] = γ^{j-t} for j ≥ t
        var c = matmul(x, g.t()); // c[b, t] = Σ_j x[b, j] G[t, j]
        return c.MoveToOuterDisposeScope();
    }
}

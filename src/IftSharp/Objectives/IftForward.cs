using IftSharp.Core;
using IftSharp.Models;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>
/// The model side of IFT, for any causal LM with an input embedding (official <c>src/trainers.py</c>, IFT branch):
/// pass 1 without gradient, teacher-forced, takes the model's greedy prediction for every position; shifted right by one
/// so that the prediction made at t stands at t+1, it replaces the ground truth at target (label) positions only;
/// pass 2, with gradient, runs on the fused embedding (1−λ)·E(s*) + λ·E(ŝ) and is scored against the ground truth
/// with <see cref="Ift.Loss"/>.
/// </summary>
public static class IftForward
{
    /// <summary>
    /// ŝ: the model's one-step-ahead greedy tokens on target positions, the ground truth elsewhere (prompt, template,
    /// padding). Also returns the first pass's per-sequence mean NLL, the SFT loss the official code logs.
    /// <paramref name="chunk"/> applies the head that many positions at a time (<see cref="TokenLogProbs.GreedyFromModel"/>).
    /// </summary>
    public static (Tensor IdsHat, double FirstPassNll) OneStepAhead(ICausalLM model, Tensor inputIds, Tensor labels,
        Tensor? attentionMask, Func<Tensor, Tensor> embed, int? chunk = null)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (logps, mask, predicted) = TokenLogProbs.GreedyFromModel(model, embed(inputIds), attentionMask, labels, chunk);
        double firstPassNll = ObjectiveResult.Scalar((-(logps * mask).sum(1) / mask.sum(1).AtLeast(1)).mean());
        // predicted[:, t] is the guess for position t+1; it is used only where labels[:, t+1] counts.
        var further = cat(new[] { inputIds.narrow(1, 0, 1), predicted }, 1);
        var idsHat = where(labels.Equal(TokenLogProbs.IgnoreIndex), inputIds, further);
        return (idsHat.MoveToOuterDisposeScope(), firstPassNll);
    }

    /// <summary>
    /// The IFT loss of a batch. <paramref name="frozenEmbedding"/> is the official frozen embedding (required unless
    /// <see cref="IftOptions.TrainFusionEmbedding"/> is set, which embeds through the model's own embedding instead).
    /// <paramref name="chunk"/> computes both passes' LM head that many positions at a time (see <see cref="TokenLogProbs.FromModel"/>).
    /// </summary>
    public static ObjectiveResult Loss(ICausalLM model, Tensor inputIds, Tensor labels, Tensor? attentionMask,
        IftOptions options, FrozenEmbedding? frozenEmbedding, int? chunk = null)
    {
        using var scope = NewDisposeScope();
        var (logps, mask, firstPassNll) = FusedPass(model, inputIds, labels, attentionMask, options.Lambda,
            options.TrainFusionEmbedding, frozenEmbedding, chunk);
        var result = Ift.Loss(logps, mask, options);
        var metrics = new Dictionary<string, double>(result.Metrics) { ["ift/first_pass_nll"] = firstPassNll };
        return new ObjectiveResult(result.Loss.MoveToOuterDisposeScope(), metrics);
    }

    /// <summary>
    /// Both passes of IFT up to the token log-probs: the one-step-ahead tokens from a no-grad pass, then the pass with
    /// gradient on the fused embedding (1−λ)·E(s*) + λ·E(ŝ), scored against the ground truth. Returns its token log-probs
    /// and mask ([B, T−1]) and the first pass's mean NLL. <paramref name="chunk"/> as in <see cref="TokenLogProbs.FromModel"/>.
    /// </summary>
    public static (Tensor Logps, Tensor Mask, double FirstPassNll) FusedPass(ICausalLM model, Tensor inputIds, Tensor labels,
        Tensor? attentionMask, double lambda, bool trainFusionEmbedding, FrozenEmbedding? frozenEmbedding, int? chunk = null)
    {
        Func<Tensor, Tensor> embed = trainFusionEmbedding
            ? model.EmbedTokens.forward
            : (frozenEmbedding ?? throw new ArgumentNullException(nameof(frozenEmbedding),
                "IFT with a frozen fusion embedding needs a FrozenEmbedding")).Embed;

        using var scope = NewDisposeScope();
        var (idsHat, firstPassNll) = OneStepAhead(model, inputIds, labels, attentionMask, embed, chunk);
        var fused = lambda == 0 ? embed(inputIds) : embed(inputIds).Times(1 - lambda).Plus(embed(idsHat).Times(lambda));
        var (logps, mask) = TokenLogProbs.FromModel(model, fused, attentionMask, labels, chunk: chunk);
        return (logps.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope(), firstPassNll);
    }
}

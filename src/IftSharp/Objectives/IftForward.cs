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
    /// </summary>
    public static (Tensor IdsHat, double FirstPassNll) OneStepAhead(ICausalLM model, Tensor inputIds, Tensor labels,
        Tensor? attentionMask, Func<Tensor, Tensor> embed)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.ForwardEmbeddings(embed(inputIds), attentionMask);
        var (logps, mask) = TokenLogProbs.Gather(logits, labels);
        double firstPassNll = ObjectiveResult.Scalar((-(logps * mask).sum(1) / mask.sum(1).AtLeast(1)).mean());
        var predicted = logits.argmax(-1); // [B, T]: prediction for position t+1
        long t = inputIds.shape[1];
        var further = cat(new[] { inputIds.narrow(1, 0, 1), predicted.narrow(1, 0, t - 1) }, 1);
        var idsHat = where(labels.Equal(TokenLogProbs.IgnoreIndex), inputIds, further);
        return (idsHat.MoveToOuterDisposeScope(), firstPassNll);
    }

    /// <summary>
    /// The IFT loss of a batch. <paramref name="frozenEmbedding"/> is the official frozen copy (required unless
    /// <see cref="IftOptions.TrainFusionEmbedding"/> is set, which embeds through the model's own embedding instead).
    /// </summary>
    public static ObjectiveResult Loss(ICausalLM model, Tensor inputIds, Tensor labels, Tensor? attentionMask,
        IftOptions options, FrozenEmbeddingCopy? frozenEmbedding)
    {
        using var scope = NewDisposeScope();
        var (logps, mask, firstPassNll) = FusedPass(model, inputIds, labels, attentionMask, options.Lambda,
            options.TrainFusionEmbedding, frozenEmbedding);
        var result = Ift.Loss(logps, mask, options);
        var metrics = new Dictionary<string, double>(result.Metrics) { ["ift/first_pass_nll"] = firstPassNll };
        return new ObjectiveResult(result.Loss.MoveToOuterDisposeScope(), metrics);
    }

    /// <summary>
    /// Both passes of IFT up to the token log-probs: the one-step-ahead tokens from a no-grad pass, then the pass with
    /// gradient on the fused embedding (1−λ)·E(s*) + λ·E(ŝ), scored against the ground truth. Returns its token log-probs
    /// and mask ([B, T−1]) and the first pass's mean NLL.
    /// </summary>
    public static (Tensor Logps, Tensor Mask, double FirstPassNll) FusedPass(ICausalLM model, Tensor inputIds, Tensor labels,
        Tensor? attentionMask, double lambda, bool trainFusionEmbedding, FrozenEmbeddingCopy? frozenEmbedding)
    {
        Func<Tensor, Tensor> embed = trainFusionEmbedding
            ? model.EmbedTokens.forward
            : (frozenEmbedding ?? throw new ArgumentNullException(nameof(frozenEmbedding),
                "IFT with a frozen fusion embedding needs a FrozenEmbeddingCopy")).Embed;

        using var scope = NewDisposeScope();
        var (idsHat, firstPassNll) = OneStepAhead(model, inputIds, labels, attentionMask, embed);
        var fused = lambda == 0 ? embed(inputIds) : embed(inputIds).Times(1 - lambda).Plus(embed(idsHat).Times(lambda));
        var logits = model.ForwardEmbeddings(fused, attentionMask);
        var (logps, mask) = TokenLogProbs.Gather(logits, labels);
        return (logps.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope(), firstPassNll);
    }
}

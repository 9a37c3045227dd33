using IftSharp.Core;
using IftSharp.Models;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>Per-token log-probabilities of the labels, with the causal shift done once, here.</summary>
public static class TokenLogProbs
{
    /// <summary>The label value that excludes a position from the loss (as in Hugging Face).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// How many times this thread gathered from a model's full [B, T, V] logits (what a chunked pass never does): the
    /// tests check that <c>--logits-chunk</c> reaches every method's passes.
    /// </summary>
    [ThreadStatic] internal static long FullLogitsGathers;

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
        FullLogitsGathers++;
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

    /// <summary>
    /// A chunk for <see cref="FromModel"/>: the positions whose float32 logits take about <paramref name="bytes"/>
    /// (64 MiB: 341 positions of a 49,152-token vocabulary, 110 of Qwen2's 151,936), at least 16 so the head's matmul
    /// stays efficient, at most 4,096. The chunked backward holds about three such buffers at once.
    /// </summary>
    public static int ChunkFor(long vocabSize, long bytes = 64L << 20) =>
        (int)Math.Clamp(bytes / (4 * Math.Max(1, vocabSize)), 16, 4096);

    /// <summary>
    /// <see cref="Gather"/> of the model's logits, from token ids [B, T] (an integer tensor) or input embeddings [B, T, H]
    /// (IFT's fused input). With <paramref name="chunk"/>, the head is applied <paramref name="chunk"/> positions at a time
    /// and only at positions whose label counts, so the [B, T, V] logits and their gradient never exist at once (see
    /// <see cref="ChunkedHeadLogProbs"/>); the result is the same up to summation order. Without it, the model's full
    /// logits go through <see cref="Gather"/>.
    /// </summary>
    public static (Tensor Logps, Tensor Mask) FromModel(ICausalLM model, Tensor inputs, Tensor? attentionMask, Tensor labels,
        double temperature = 1.0, int? chunk = null)
    {
        using var scope = NewDisposeScope();
        var hidden = model.ForwardHidden(Embeddings(model, inputs), attentionMask);
        var (logps, mask) = FromHidden(model, hidden, labels, temperature, chunk);
        return (logps.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary><see cref="FromModel"/> from the model's final hidden states [B, T, H] (<see cref="ICausalLM.ForwardHidden"/>).</summary>
    public static (Tensor Logps, Tensor Mask) FromHidden(ICausalLM model, Tensor hidden, Tensor labels, double temperature = 1.0,
        int? chunk = null)
    {
        CheckLabels(hidden, labels, "hidden states");
        using var scope = NewDisposeScope();
        if (chunk is null)
        {
            var (full, fullMask) = Gather(model.Head(hidden), labels, temperature);
            return (full.MoveToOuterDisposeScope(), fullMask.MoveToOuterDisposeScope());
        }
        var (rows, hiddenRows, targetRows, mask) = CountedRows(hidden, labels);
        var (weight, bias) = HeadIn(model, hidden.dtype);
        var rowLogps = ChunkedHeadLogProbs.LogProbs(hiddenRows, weight, bias, targetRows, temperature, chunk.Value);
        var logps = zeros(mask.numel(), rowLogps.dtype, hidden.device).index_copy(0, rows, rowLogps).view(mask.shape);
        return (logps.MoveToOuterDisposeScope(), mask.to_type(rowLogps.dtype).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// IFT's first pass, without gradient: <see cref="FromModel"/>'s log-probs and mask, and <c>Greedy[b, t]</c>, the
    /// model's argmax prediction at position t (a guess for token t+1), [B, T-1]. With <paramref name="chunk"/>, the
    /// prediction is computed only where the next label counts (what IFT uses) and is 0 elsewhere.
    /// </summary>
    public static (Tensor Logps, Tensor Mask, Tensor Greedy) GreedyFromModel(ICausalLM model, Tensor inputs, Tensor? attentionMask,
        Tensor labels, int? chunk = null)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var hidden = model.ForwardHidden(Embeddings(model, inputs), attentionMask);
        CheckLabels(hidden, labels, "hidden states");
        long t = hidden.shape[1];
        if (chunk is null)
        {
            var logits = model.Head(hidden);
            var (full, fullMask) = Gather(logits, labels);
            var argmax = logits.narrow(1, 0, t - 1).argmax(-1);
            return (full.MoveToOuterDisposeScope(), fullMask.MoveToOuterDisposeScope(), argmax.MoveToOuterDisposeScope());
        }
        var (rows, hiddenRows, targetRows, mask) = CountedRows(hidden, labels);
        var (weight, bias) = HeadIn(model, hidden.dtype);
        var (rowLogps, rowGreedy) = ChunkedHeadLogProbs.LogProbsAndGreedy(hiddenRows, weight, bias, targetRows, 1.0, chunk.Value);
        var logps = zeros(mask.numel(), rowLogps.dtype, hidden.device).index_copy(0, rows, rowLogps).view(mask.shape);
        var greedy = zeros(mask.numel(), ScalarType.Int64, hidden.device).index_copy(0, rows, rowGreedy).view(mask.shape);
        return (logps.MoveToOuterDisposeScope(), mask.to_type(rowLogps.dtype).MoveToOuterDisposeScope(), greedy.MoveToOuterDisposeScope());
    }

    private static Tensor Embeddings(ICausalLM model, Tensor inputs) =>
        inputs.dtype is ScalarType.Int64 or ScalarType.Int32 ? model.EmbedTokens.forward(inputs) : inputs;

    /// <summary>The head's weight and bias in the hidden states' dtype (a bf16 copy's tied head reads its float32 embedding so).</summary>
    private static (Tensor Weight, Tensor? Bias) HeadIn(ICausalLM model, ScalarType dtype)
    {
        var weight = model.HeadWeight;
        var bias = model.HeadBias;
        return (weight.dtype == dtype ? weight : weight.to(dtype), bias is null || bias.dtype == dtype ? bias : bias.to(dtype));
    }

    /// <summary>
    /// The shifted positions whose label counts: their flat indices into [B, T-1], their hidden states [N, H] and target
    /// ids [N], and the [B, T-1] boolean mask.
    /// </summary>
    private static (Tensor Rows, Tensor Hidden, Tensor Targets, Tensor Mask) CountedRows(Tensor hidden, Tensor labels)
    {
        long b = hidden.shape[0], t = hidden.shape[1], h = hidden.shape[2];
        var targets = labels.narrow(1, 1, t - 1);
        var mask = targets.NotEqual(IgnoreIndex);
        var rows = mask.reshape(-1).nonzero().squeeze(1);
        var hiddenRows = hidden.narrow(1, 0, t - 1).reshape(b * (t - 1), h).index_select(0, rows);
        return (rows, hiddenRows, targets.reshape(-1).index_select(0, rows), mask);
    }

    private static void CheckLabels(Tensor hidden, Tensor labels, string what)
    {
        if (hidden.dim() != 3) throw new ArgumentException($"{what} must be [B, T, H], got {Shape(hidden)}");
        if (labels.dim() != 2 || labels.shape[0] != hidden.shape[0] || labels.shape[1] != hidden.shape[1])
            throw new ArgumentException($"labels must be [B, T] matching {what} {Shape(hidden)}, got {Shape(labels)}");
    }

    private static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
}

using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Training;
using static TorchSharp.torch;

namespace IftSharp.Methods;

/// <summary>Per-token log-probs of a batch's labels, [R, T−1], and their mask (see <see cref="TokenLogProbs.Gather"/>).</summary>
public sealed record TokenScores(Tensor Logps, Tensor Mask)
{
    /// <summary>
    /// The summed log-probs of rows <c>[slot·rows, (slot+1)·rows)</c>: batches of several sequences per item are slot-major.
    /// </summary>
    public SequenceLogps Slot(int slot, int rows) =>
        SequenceLogps.From(Logps.narrow(0, (long)slot * rows, rows), Mask.narrow(0, (long)slot * rows, rows));

    /// <summary>The token scores of one slot's rows.</summary>
    public TokenScores SlotTokens(int slot, int rows) =>
        new(Logps.narrow(0, (long)slot * rows, rows), Mask.narrow(0, (long)slot * rows, rows));
}

/// <summary>How every method gets token log-probs from a model: one forward over a right-padded batch.</summary>
public static class SequenceScores
{
    /// <summary>
    /// Token log-probs of <paramref name="rows"/> under <paramref name="model"/>, in one forward pass (with gradient unless
    /// the caller is under <c>no_grad</c>). <paramref name="temperature"/> divides the logits (EXO's logit temperature).
    /// <paramref name="chunk"/> applies the LM head that many positions at a time (<c>--logits-chunk</c>, see
    /// <see cref="TokenLogProbs.FromModel"/>): the [R, T, V] logits never exist at once.
    /// </summary>
    public static TokenScores Of(ICausalLM model, IReadOnlyList<TrainingExample> rows, int padId, double temperature = 1.0,
        int? chunk = null)
    {
        using var scope = NewDisposeScope();
        var scores = Of(model, Batch.Collate(rows, padId), temperature, chunk);
        return new TokenScores(scores.Logps.MoveToOuterDisposeScope(), scores.Mask.MoveToOuterDisposeScope());
    }

    /// <summary>Token log-probs of a collated batch; <paramref name="chunk"/> as above.</summary>
    public static TokenScores Of(ICausalLM model, Batch batch, double temperature = 1.0, int? chunk = null)
    {
        using var scope = NewDisposeScope();
        var (logps, mask) = chunk is null
            ? TokenLogProbs.Gather(model.Forward(batch.InputIds, batch.AttentionMask), batch.Labels, temperature)
            : TokenLogProbs.FromModel(model, batch.InputIds, batch.AttentionMask, batch.Labels, temperature, chunk);
        return new TokenScores(logps.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The rows of a batch whose items have the same number of sequences each, slot-major: all first sequences, then all
    /// second ...
    /// </summary>
    public static List<TrainingExample> SlotMajor<TItem>(IReadOnlyList<TItem> items, Func<TItem, IReadOnlyList<TrainingExample>> sequences)
    {
        var perItem = items.Select(sequences).ToList();
        int slots = perItem.Count == 0 ? 0 : perItem[0].Count;
        var rows = new List<TrainingExample>(slots * items.Count);
        for (int s = 0; s < slots; s++) rows.AddRange(perItem.Select(p => p[s]));
        return rows;
    }
}

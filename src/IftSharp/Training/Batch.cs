using IftSharp.Data;
using static TorchSharp.torch;

namespace IftSharp.Training;

/// <summary>A right-padded batch: ids [B, T], labels [B, T] (-100 on padding), attention mask [B, T].</summary>
public sealed record Batch(Tensor InputIds, Tensor Labels, Tensor AttentionMask, long Tokens)
{
    public static Batch Collate(IReadOnlyList<TrainingExample> examples, int padId)
    {
        int t = examples.Max(e => e.Length);
        var ids = new long[examples.Count * t];
        var labels = new long[examples.Count * t];
        var mask = new long[examples.Count * t];
        Array.Fill(ids, padId);
        Array.Fill(labels, Objectives.TokenLogProbs.IgnoreIndex);
        for (int b = 0; b < examples.Count; b++)
            for (int i = 0; i < examples[b].Length; i++)
            {
                ids[b * t + i] = examples[b].InputIds[i];
                labels[b * t + i] = examples[b].Labels[i];
                mask[b * t + i] = 1;
            }
        long[] shape = [examples.Count, t];
        return new Batch(
            tensor(ids).reshape(shape), tensor(labels).reshape(shape), tensor(mask).reshape(shape), examples.Sum(e => e.Length));
    }
}

using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// Sliding-window attention as transformers masks it: the query at sequence index q sees key k when
/// <c>k ≤ q</c> and <c>k &gt; q − window</c>, itself and the <c>window − 1</c> keys before it. Indices are positions in
/// the (padded) sequence, cached positions included, as transformers' cache positions are.
/// </summary>
public static class SlidingWindowMask
{
    /// <summary>
    /// The attention arguments of a layer whose <paramref name="queries"/> are the last ones of <paramref name="keys"/>
    /// positions, narrowed to <paramref name="window"/>. <paramref name="mask"/> ([B, 1, T, S], true = may attend) and
    /// <paramref name="causal"/> are what the layer would use without a window; null with <c>causal</c> false only
    /// happens for a single query, the last position, which sees every key. Sequences no longer than the window are
    /// returned unchanged, so they keep SDPA's unmasked causal path.
    /// </summary>
    public static (Tensor? Mask, bool Causal) Restrict(Tensor? mask, bool causal, long queries, long keys, int window, Device device)
    {
        if (keys <= window) return (mask, causal);
        var keyPositions = ScalarArithmetic.Range(0, keys, device: device).unsqueeze(0);               // [1, S]
        var queryPositions = ScalarArithmetic.Range(keys - queries, keys, device: device).unsqueeze(1); // [T, 1]
        var band = (keyPositions <= queryPositions).logical_and(keyPositions > queryPositions.Minus(window)); // [T, S]
        var restricted = mask is null ? band.unsqueeze(0).unsqueeze(0) : mask.logical_and(band);
        return (restricted, false);
    }
}

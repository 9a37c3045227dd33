using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// Preallocated keys and values of every layer, [B, kvHeads, maxLength, headDim] each, for incremental
/// decoding. The caller owns it (dispose it); the model writes the new positions during a forward pass and
/// advances <see cref="Length"/>. Inference only: the buffers never take part in autograd.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] keys;
    private readonly Tensor[] values;

    public KvCache(DecoderConfig config, long batchSize, long maxLength, ScalarType dtype, Device? device = null)
    {
        if (maxLength <= 0) throw new ArgumentOutOfRangeException(nameof(maxLength));
        BatchSize = batchSize;
        MaxLength = maxLength;
        keys = new Tensor[config.NumHiddenLayers];
        values = new Tensor[config.NumHiddenLayers];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = zeros([batchSize, config.KeyValueHeads, maxLength, config.HeadDim], dtype, device).DetachFromDisposeScope();
            values[i] = zeros([batchSize, config.KeyValueHeads, maxLength, config.HeadDim], dtype, device).DetachFromDisposeScope();
        }
    }

    public long BatchSize { get; }
    public long MaxLength { get; }

    /// <summary>Positions already filled (the same for every row; left padding keeps rows aligned).</summary>
    public long Length { get; private set; }

    public int Layers => keys.Length;

    /// <summary>
    /// Stores k/v [B, kvHeads, T, d] of <paramref name="layer"/> at positions [Length, Length + T) and returns
    /// views of everything filled so far, [B, kvHeads, Length + T, d].
    /// </summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        long t = k.shape[2];
        if (Length + t > MaxLength)
            throw new InvalidOperationException($"KV cache full: {Length} + {t} positions exceed its {MaxLength}");
        using (no_grad())
        {
            keys[layer].narrow(2, Length, t).copy_(k);
            values[layer].narrow(2, Length, t).copy_(v);
        }
        return (keys[layer].narrow(2, 0, Length + t), values[layer].narrow(2, 0, Length + t));
    }

    /// <summary>The whole key buffer of <paramref name="layer"/>, [B, kvHeads, MaxLength, headDim] (for the decoder's kernels).</summary>
    internal Tensor KeysOf(int layer) => keys[layer];

    /// <summary>The whole value buffer of <paramref name="layer"/>, [B, kvHeads, MaxLength, headDim].</summary>
    internal Tensor ValuesOf(int layer) => values[layer];

    /// <summary>Called by the model once every layer has appended <paramref name="positions"/> new positions.</summary>
    internal void Advance(long positions) => Length += positions;

    /// <summary>Forgets every position so the buffers can serve another prompt of the same batch size.</summary>
    public void Reset() => Length = 0;

    public void Dispose()
    {
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
    }
}

using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// Rotary position embedding with Hugging Face's conventions: inverse frequencies in float32, cos/sin of
/// <c>cat(freqs, freqs)</c> and the <c>rotate_half</c> pairing (dimension i with i + d/2), plus the
/// <c>linear</c> and <c>llama3</c> frequency scalings.
/// </summary>
public sealed class RotaryEmbedding
{
    private readonly float[] inverseFrequencies;

    public RotaryEmbedding(DecoderConfig config)
    {
        inverseFrequencies = InverseFrequencies(config);
    }


    /// <summary>cos and sin [B, T, headDim] for position ids [B, T], in <paramref name="dtype"/>.</summary>
    public (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var inv = tensor(inverseFrequencies, device: positionIds.device);
        var freqs = positionIds.to(float32).unsqueeze(-1) * inv; // [B, T, d/2]
        var emb = cat([freqs, freqs], -1);
        var cos = emb.cos().to(dtype).MoveToOuterDisposeScope();
        var sin = emb.sin().to(dtype).MoveToOuterDisposeScope();
        return (cos, sin);
    }

    /// <summary>x [B, heads, T, d] rotated by cos/sin [B, T, d].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var c = cos.unsqueeze(1);
        var s = sin.unsqueeze(1);
        return (x * c).Plus(RotateHalf(x) * s).MoveToOuterDisposeScope();
    }

    private static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        return cat([-x2, x1], -1);
    }

    private static float[] InverseFrequencies(DecoderConfig config)
    {
        using var scope = NewDisposeScope();
        int dim = config.HeadDim;
        // As HF: base ** (arange(0, dim, 2).float() / dim) in float32.
        var exponents = ScalarArithmetic.Range(0, dim, 2).to(float32).DividedBy(dim);
        var inv = pow(tensor((float)config.RopeTheta), exponents).Into(1.0f);
        var scaling = config.RopeScaling;
        switch (scaling?.Kind)
        {
            case "linear":
                inv = inv.DividedBy(scaling.Factor!.Value);
                break;
            case "llama3":
                double factor = scaling.Factor!.Value, low = scaling.LowFreqFactor!.Value, high = scaling.HighFreqFactor!.Value;
                double oldContext = scaling.OriginalMaxPositionEmbeddings!.Value;
                double lowFreqWavelen = oldContext / low, highFreqWavelen = oldContext / high;
                var wavelen = inv.Into(2 * Math.PI);
                var scaled = where(wavelen.GreaterThan(lowFreqWavelen), inv.DividedBy(factor), inv);
                var smooth = wavelen.Into(oldContext).Minus(low).DividedBy(high - low);
                var smoothed = (smooth.SubtractedFrom(1) * scaled).DividedBy(factor).Plus(smooth * scaled);
                var medium = wavelen.GreaterOrEqual(highFreqWavelen).logical_and(wavelen.LessOrEqual(lowFreqWavelen));
                inv = where(medium, smoothed, scaled);
                break;
        }
        return inv.to(float32).data<float>().ToArray();
    }
}

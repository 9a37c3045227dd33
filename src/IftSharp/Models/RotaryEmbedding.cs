using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// Rotary position embedding with Hugging Face's conventions: inverse frequencies in float32, cos/sin of
/// <c>cat(freqs, freqs)</c> and the <c>rotate_half</c> pairing (dimension i with i + d/2), plus the
/// <c>linear</c>, <c>llama3</c>, <c>dynamic</c> and <c>yarn</c> frequency scalings as transformers computes them.
/// </summary>
/// <remarks>
/// <c>dynamic</c> (NTK) is stateful as in transformers 4.x's <c>dynamic_rope_update</c>: a forward pass whose positions
/// reach past the longest length seen so far (initially <c>max_position_embeddings</c>) recomputes the frequencies for
/// that length and keeps them; one shorter than <c>max_position_embeddings</c> goes back to the original frequencies.
/// <c>yarn</c> follows transformers' current <c>_compute_yarn_parameters</c>: <c>factor</c> as given,
/// <c>original_max_position_embeddings</c> (default <c>max_position_embeddings</c>) for the correction range,
/// <c>beta_fast</c> 32 and <c>beta_slow</c> 1 by default, <c>truncate</c> true, and cos/sin multiplied by the
/// attention factor (<c>0.1 ln(factor) + 1</c> unless given, or the <c>mscale</c>/<c>mscale_all_dim</c> ratio).
/// </remarks>
public sealed class RotaryEmbedding
{
    private readonly DecoderConfig config;
    private readonly float[] originalInverseFrequencies;
    private readonly double attentionScaling;
    private float[] inverseFrequencies;
    private long maxSequenceLengthCached;

    public RotaryEmbedding(DecoderConfig config)
    {
        this.config = config;
        (originalInverseFrequencies, attentionScaling) = Parameters(config, null);
        inverseFrequencies = originalInverseFrequencies;
        maxSequenceLengthCached = config.MaxPositionEmbeddings;
    }

    /// <summary>The inverse frequencies the next forward pass would use (for tests and diagnostics).</summary>
    public IReadOnlyList<float> InverseFrequencies => inverseFrequencies;

    /// <summary>The factor cos and sin are multiplied by (YaRN's attention factor; 1 otherwise).</summary>
    public double AttentionScaling => attentionScaling;

    /// <summary>cos and sin [B, T, headDim] for position ids [B, T], in <paramref name="dtype"/>.</summary>
    public (Tensor Cos, Tensor Sin) CosSin(Tensor positionIds, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        if (config.RopeScaling?.Kind == "dynamic") UpdateDynamicFrequencies(positionIds);
        var inv = tensor(inverseFrequencies, device: positionIds.device);
        var freqs = positionIds.to(float32).unsqueeze(-1) * inv; // [B, T, d/2]
        var emb = cat([freqs, freqs], -1);
        Tensor cos = emb.cos(), sin = emb.sin();
        if (attentionScaling != 1.0)
        {
            cos = cos.Times(attentionScaling);
            sin = sin.Times(attentionScaling);
        }
        return (cos.to(dtype).MoveToOuterDisposeScope(), sin.to(dtype).MoveToOuterDisposeScope());
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

    private void UpdateDynamicFrequencies(Tensor positionIds)
    {
        long sequenceLength = positionIds.max().item<long>() + 1;
        long original = config.MaxPositionEmbeddings;
        if (sequenceLength > maxSequenceLengthCached) // growth
        {
            inverseFrequencies = Parameters(config, sequenceLength).Inverse;
            maxSequenceLengthCached = sequenceLength;
        }
        if (sequenceLength < original && maxSequenceLengthCached > original) // back to the original scale
        {
            inverseFrequencies = originalInverseFrequencies;
            maxSequenceLengthCached = original;
        }
    }

    /// <summary>The inverse frequencies and the cos/sin factor; <paramref name="sequenceLength"/> only matters to dynamic.</summary>
    private static (float[] Inverse, double AttentionScaling) Parameters(DecoderConfig config, long? sequenceLength)
    {
        using var scope = NewDisposeScope();
        int dim = config.HeadDim;
        var scaling = config.RopeScaling;
        double attention = 1.0;
        Tensor inv;
        switch (scaling?.Kind)
        {
            case "linear":
                inv = DefaultFrequencies(config.RopeTheta, dim).DividedBy(scaling.Factor!.Value);
                break;
            case "llama3":
                inv = Llama3Frequencies(DefaultFrequencies(config.RopeTheta, dim), scaling);
                break;
            case "dynamic":
                inv = DynamicFrequencies(config, scaling, sequenceLength ?? config.MaxPositionEmbeddings);
                break;
            case "yarn":
                (inv, attention) = YarnFrequencies(config, scaling);
                break;
            default:
                inv = DefaultFrequencies(config.RopeTheta, dim);
                break;
        }
        return (inv.to(float32).data<float>().ToArray(), attention);
    }

    /// <summary>As HF: <c>1 / base ** (arange(0, dim, 2).float() / dim)</c> in float32.</summary>
    private static Tensor DefaultFrequencies(double theta, int dim) => DefaultFrequencies(tensor((float)theta), dim);

    private static Tensor DefaultFrequencies(Tensor theta, int dim)
    {
        var exponents = ScalarArithmetic.Range(0, dim, 2).to(float32).DividedBy(dim);
        return pow(theta, exponents).Into(1.0f);
    }

    private static Tensor Llama3Frequencies(Tensor inv, RopeScaling scaling)
    {
        double factor = scaling.Factor!.Value, low = scaling.LowFreqFactor!.Value, high = scaling.HighFreqFactor!.Value;
        double oldContext = scaling.OriginalMaxPositionEmbeddings!.Value;
        double lowFreqWavelen = oldContext / low, highFreqWavelen = oldContext / high;
        var wavelen = inv.Into(2 * Math.PI);
        var scaled = where(wavelen.GreaterThan(lowFreqWavelen), inv.DividedBy(factor), inv);
        var smooth = wavelen.Into(oldContext).Minus(low).DividedBy(high - low);
        var smoothed = (smooth.SubtractedFrom(1) * scaled).DividedBy(factor).Plus(smooth * scaled);
        var medium = wavelen.GreaterOrEqual(highFreqWavelen).logical_and(wavelen.LessOrEqual(lowFreqWavelen));
        return where(medium, smoothed, scaled);
    }

    /// <summary>
    /// Dynamic NTK: <c>base · (factor · L / max − (factor − 1)) ** (dim / (dim − 2))</c> with L the sequence length (at
    /// least <c>max_position_embeddings</c>), computed in float32 as transformers does with a tensor length.
    /// </summary>
    private static Tensor DynamicFrequencies(DecoderConfig config, RopeScaling scaling, long sequenceLength)
    {
        int dim = config.HeadDim;
        double factor = scaling.Factor!.Value;
        long length = Math.Max(sequenceLength, config.MaxPositionEmbeddings);
        var growth = tensor((float)length).Times(factor).DividedBy(config.MaxPositionEmbeddings).Minus(factor - 1);
        var theta = growth.pow(tensor((float)((double)dim / (dim - 2)))).Times(config.RopeTheta);
        return DefaultFrequencies(theta, dim);
    }

    private static (Tensor Inverse, double AttentionFactor) YarnFrequencies(DecoderConfig config, RopeScaling scaling)
    {
        int dim = config.HeadDim;
        double theta = config.RopeTheta, factor = scaling.Factor!.Value;
        double original = scaling.OriginalMaxPositionEmbeddings ?? config.MaxPositionEmbeddings;
        static double MScale(double scale, double m) => scale <= 1 ? 1.0 : 0.1 * m * Math.Log(scale) + 1.0;
        double attention = scaling.AttentionFactor
            ?? (scaling.Mscale is double m && m != 0 && scaling.MscaleAllDim is double all && all != 0
                ? MScale(factor, m) / MScale(factor, all)
                : MScale(factor, 1));
        double betaFast = scaling.BetaFast is double bf && bf != 0 ? bf : 32;
        double betaSlow = scaling.BetaSlow is double bs && bs != 0 ? bs : 1;
        double CorrectionDim(double rotations) => dim * Math.Log(original / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = CorrectionDim(betaFast), high = CorrectionDim(betaSlow);
        if (scaling.Truncate ?? true)
        {
            low = Math.Floor(low);
            high = Math.Ceiling(high);
        }
        low = Math.Max(low, 0);
        high = Math.Min(high, dim - 1);
        if (low == high) high += 0.001; // as transformers, against a zero-width ramp

        var posFreqs = pow(tensor((float)theta), ScalarArithmetic.Range(0, dim, 2).to(float32).DividedBy(dim));
        var extrapolation = posFreqs.Into(1.0);
        var interpolation = posFreqs.Times(factor).Into(1.0);
        var ramp = ScalarArithmetic.Range(0, dim / 2).to(float32).Minus(low).DividedBy(high - low).AtLeast(0.0).AtMost(1.0);
        var extrapolationFactor = ramp.SubtractedFrom(1);
        var inv = (interpolation * extrapolationFactor.SubtractedFrom(1)).Plus(extrapolation * extrapolationFactor);
        return (inv, attention);
    }
}

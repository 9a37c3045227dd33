using IftSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>Fresh models from a config, initialised as Hugging Face's <c>_init_weights</c> does.</summary>
public static class ModelFactory
{
    /// <summary>
    /// A new model: Linear and Embedding weights ~ normal(0, initializer_range), biases zero, RMSNorm weights one,
    /// the pad token's embedding row zero (HF's padding_idx). The same seed gives the same weights. The parameters are
    /// allocated once in <paramref name="dtype"/> and initialised in place; the values are those drawn in float32 and
    /// rounded to <paramref name="dtype"/>, whatever the dtype.
    /// </summary>
    public static LlamaForCausalLM CreateFromConfig(DecoderConfig config, long seed, ScalarType dtype = ScalarType.Float32)
    {
        var model = new LlamaForCausalLM(config, ParameterAllocation.Uninitialized(dtype));
        try { Initialize(model, seed); }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>Overwrites every parameter of <paramref name="model"/> with Hugging Face's initialisation, in place.</summary>
    public static void Initialize(LlamaForCausalLM model, long seed)
    {
        var config = model.Config;
        using var noGrad = no_grad();
        using var rng = new TorchSharp.torch.Generator((ulong)seed);
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) parameter.FillInPlace(1.0);
            else if (name.EndsWith(".bias", StringComparison.Ordinal)) parameter.zero_();
            else if (parameter.dtype == ScalarType.Float32) parameter.normal_(0.0, config.InitializerRange, rng);
            else
            {
                // Drawn in float32 as for a float32 model, so the seed gives the same weights in every dtype.
                using var drawn = empty(parameter.shape, ScalarType.Float32);
                drawn.normal_(0.0, config.InitializerRange, rng);
                parameter.copy_(drawn);
            }
        }
        if (config.PadTokenId is int pad && pad >= 0 && pad < config.VocabSize)
            model.EmbedTokens.weight![pad].zero_();
    }
}

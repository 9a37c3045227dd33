using IftSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>Fresh models from a config, initialised as Hugging Face's <c>_init_weights</c> does.</summary>
public static class ModelFactory
{
    /// <summary>
    /// A new model: Linear and Embedding weights ~ normal(0, initializer_range), biases zero, RMSNorm weights one,
    /// the pad token's embedding row zero (HF's padding_idx). The same seed gives the same weights.
    /// </summary>
    public static LlamaForCausalLM CreateFromConfig(DecoderConfig config, long seed, ScalarType dtype = ScalarType.Float32)
    {
        var model = new LlamaForCausalLM(config);
        using var noGrad = no_grad();
        using var rng = new TorchSharp.torch.Generator((ulong)seed);
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) parameter.FillInPlace(1.0);
            else if (name.EndsWith(".bias", StringComparison.Ordinal)) parameter.zero_();
            else parameter.normal_(0.0, config.InitializerRange, rng);
        }
        if (config.PadTokenId is int pad && pad >= 0 && pad < config.VocabSize)
            model.EmbedTokens.weight![pad].zero_();
        model.to(dtype);
        return model;
    }
}

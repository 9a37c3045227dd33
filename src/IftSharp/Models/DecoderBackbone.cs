using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>Hugging Face's <c>model.</c> prefix: token embedding, the layers and the final norm.</summary>
public sealed class DecoderBackbone : nn.Module
{
    private readonly Embedding embed_tokens;
    private readonly ModuleList<DecoderLayer> layers;
    private readonly RmsNorm norm;
    private readonly DecoderLayer[] layerArray;

    public DecoderBackbone(DecoderConfig config, ParameterAllocation? allocation = null) : base(nameof(DecoderBackbone))
    {
        allocation ??= ParameterAllocation.Initialized;
        embed_tokens = allocation.Embedding(config.VocabSize, config.HiddenSize);
        layerArray = Enumerable.Range(0, config.NumHiddenLayers).Select(i => new DecoderLayer(config, i, allocation)).ToArray();
        layers = new ModuleList<DecoderLayer>(layerArray);
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, allocation);
        register_module("embed_tokens", embed_tokens);
        register_module("layers", layers);
        register_module("norm", norm);
    }

    public Embedding EmbedTokens => embed_tokens;
    public IReadOnlyList<DecoderLayer> Layers => layerArray;
    public RmsNorm Norm => norm;
}

using IftSharp.Core;
using IftSharp.Models.Lora;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>One pre-norm transformer block: attention and SwiGLU MLP, each with a residual connection.</summary>
public sealed class DecoderLayer : nn.Module
{
    private readonly DecoderAttention self_attn;
    private readonly DecoderMlp mlp;
    private readonly RmsNorm input_layernorm;
    private readonly RmsNorm post_attention_layernorm;

    public DecoderLayer(DecoderConfig config, int layerIndex, ParameterAllocation? allocation = null) : base(nameof(DecoderLayer))
    {
        self_attn = new DecoderAttention(config, layerIndex, allocation);
        mlp = new DecoderMlp(config, allocation);
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, allocation);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, allocation);
        register_module("self_attn", self_attn);
        register_module("mlp", mlp);
        register_module("input_layernorm", input_layernorm);
        register_module("post_attention_layernorm", post_attention_layernorm);
    }

    /// <summary>The blocks whose projections LoRA can adapt, by the name Hugging Face gives them under a layer.</summary>
    public IReadOnlyList<(string Name, LoraSlots Slots)> LoraBlocks => [("self_attn", self_attn.Projections), ("mlp", mlp.Projections)];

    /// <summary>The layer's and its adapters' parameters that take a gradient: what a recomputing backward differentiates.</summary>
    public IReadOnlyList<Parameter> TrainableParameters() =>
        parameters().Concat(LoraBlocks.SelectMany(b => b.Slots.Adapters.Values).SelectMany(a => new[] { a.A, a.B }))
            .Where(p => p.requires_grad).ToList();

    /// <summary>Whether a forward pass draws random numbers (LoRA dropout in training mode), so a recomputation must replay them.</summary>
    public bool DrawsRandomNumbers => training && LoraBlocks.Any(b => b.Slots.Adapters.Values.Any(a => a.Enabled && a.Dropout > 0));

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, bool causal, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var h = x.Plus(self_attn.Forward(input_layernorm.forward(x), cos, sin, mask, causal, cache));
        return h.Plus(mlp.forward(post_attention_layernorm.forward(h))).MoveToOuterDisposeScope();
    }
}

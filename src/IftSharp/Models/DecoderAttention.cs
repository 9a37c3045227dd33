using IftSharp.Models.Lora;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// Multi-head self-attention with grouped key/value heads (GQA/MQA), rotary positions and an optional KV cache.
/// Qwen3 adds an RMSNorm over each query/key head before the rotation.
/// </summary>
public sealed class DecoderAttention : nn.Module
{
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly RmsNorm? q_norm;
    private readonly RmsNorm? k_norm;
    private readonly int heads, kvHeads, headDim, layerIndex;
    private readonly int? slidingWindow;
    private readonly LoraSlots projections;

    public DecoderAttention(DecoderConfig config, int layerIndex, ParameterAllocation? allocation = null) : base(nameof(DecoderAttention))
    {
        allocation ??= ParameterAllocation.Initialized;
        heads = config.NumAttentionHeads;
        kvHeads = config.KeyValueHeads;
        headDim = config.HeadDim;
        this.layerIndex = layerIndex;
        slidingWindow = config.SlidingWindowOf(layerIndex);
        q_proj = allocation.Linear(config.HiddenSize, heads * headDim, hasBias: config.QkvBias);
        k_proj = allocation.Linear(config.HiddenSize, kvHeads * headDim, hasBias: config.QkvBias);
        v_proj = allocation.Linear(config.HiddenSize, kvHeads * headDim, hasBias: config.QkvBias);
        o_proj = allocation.Linear(heads * headDim, config.HiddenSize, hasBias: config.OutputBias);
        register_module("q_proj", q_proj);
        register_module("k_proj", k_proj);
        register_module("v_proj", v_proj);
        register_module("o_proj", o_proj);
        projections = new LoraSlots(("q_proj", q_proj), ("k_proj", k_proj), ("v_proj", v_proj), ("o_proj", o_proj));
        if (config.QkNorm)
        {
            q_norm = new RmsNorm(headDim, config.RmsNormEps, allocation);
            k_norm = new RmsNorm(headDim, config.RmsNormEps, allocation);
            register_module("q_norm", q_norm);
            register_module("k_norm", k_norm);
        }
    }

    /// <summary>q/k/v/o and the LoRA adapters attached to them.</summary>
    public LoraSlots Projections => projections;

    /// <param name="x">[B, T, H]</param>
    /// <param name="cos">[B, T, d]</param>
    /// <param name="sin">[B, T, d]</param>
    /// <param name="mask">
    /// Boolean [B, 1, T, S] (true = may attend); when null, <paramref name="causal"/> says whether SDPA masks causally.
    /// </param>
    /// <param name="causal">Whether SDPA applies its own causal mask (used only without <paramref name="mask"/>).</param>
    /// <param name="cache">Keys/values of earlier positions; this call appends T positions to it.</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, bool causal, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = projections.Forward("q_proj", x, training).view(b, t, heads, headDim);
        var k = projections.Forward("k_proj", x, training).view(b, t, kvHeads, headDim);
        var v = projections.Forward("v_proj", x, training).view(b, t, kvHeads, headDim).transpose(1, 2);
        if (q_norm is not null) q = q_norm.forward(q);
        if (k_norm is not null) k = k_norm!.forward(k);
        q = RotaryEmbedding.Apply(q.transpose(1, 2), cos, sin);
        k = RotaryEmbedding.Apply(k.transpose(1, 2), cos, sin);
        if (cache is not null) (k, v) = cache.Append(layerIndex, k, v);
        if (slidingWindow is int window) (mask, causal) = SlidingWindowMask.Restrict(mask, causal, t, k.shape[2], window, x.device);
        if (kvHeads != heads)
        {
            k = k.repeat_interleave(heads / kvHeads, dim: 1);
            v = v.repeat_interleave(heads / kvHeads, dim: 1);
        }
        var attended = mask is null
            ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: causal)
            : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        var merged = attended.transpose(1, 2).reshape(b, t, heads * headDim);
        return projections.Forward("o_proj", merged, training).MoveToOuterDisposeScope();
    }
}

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// What the objectives and the trainer need from a decoder-only language model: its input
/// embedding (IFT fuses embeddings before the first layer), a forward pass that starts from
/// embeddings, and that pass split into the final hidden states and the LM head (so a loss can
/// apply the head a chunk of positions at a time). Implemented by <c>nn.Module</c> subclasses, so
/// <see cref="parameters"/> is the module's own method.
/// </summary>
public interface ICausalLM
{
    /// <summary>The input embedding (Hugging Face: <c>model.embed_tokens</c>).</summary>
    Embedding EmbedTokens { get; }

    /// <summary>
    /// The final hidden states [B, T, H] (after the final norm) from input embeddings [B, T, H]: everything but the head.
    /// <paramref name="attentionMask"/> is [B, T], 1 for real tokens and 0 for padding, or null when there is no padding.
    /// </summary>
    Tensor ForwardHidden(Tensor inputsEmbeds, Tensor? attentionMask = null);

    /// <summary>The LM head's weight [V, H]: <c>lm_head.weight</c>, or the input embedding's weight when tied.</summary>
    Tensor HeadWeight { get; }

    /// <summary>The LM head's bias [V], or null (decoder LMs have none).</summary>
    Tensor? HeadBias => null;

    /// <summary>Logits [..., V] of hidden states [..., H], computed in the hidden states' dtype.</summary>
    Tensor Head(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var weight = HeadWeight;
        // A bf16 compute copy keeps its (tied) embedding in float32; the head reads it in the hidden states' dtype.
        if (weight.dtype != hidden.dtype) weight = weight.to(hidden.dtype);
        var bias = HeadBias;
        if (bias is not null && bias.dtype != hidden.dtype) bias = bias.to(hidden.dtype);
        return nn.functional.linear(hidden, weight, bias).MoveToOuterDisposeScope();
    }

    /// <summary>Logits [B, T, V] from input embeddings [B, T, H]; the mask as in <see cref="ForwardHidden"/>.</summary>
    Tensor ForwardEmbeddings(Tensor inputsEmbeds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        return Head(ForwardHidden(inputsEmbeds, attentionMask)).MoveToOuterDisposeScope();
    }

    /// <summary>Logits [B, T, V] from token ids [B, T].</summary>
    Tensor Forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var logits = ForwardEmbeddings(EmbedTokens.forward(inputIds), attentionMask);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>The trainable parameters (the module's own <c>parameters()</c>).</summary>
    IEnumerable<Parameter> parameters(bool recurse = true);
}

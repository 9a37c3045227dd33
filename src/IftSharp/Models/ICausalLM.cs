using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// What the objectives and the trainer need from a decoder-only language model: its input
/// embedding (IFT fuses embeddings before the first layer) and a forward pass that starts from
/// embeddings. Implemented by <c>nn.Module</c> subclasses, so <see cref="parameters"/> is the
/// module's own method.
/// </summary>
public interface ICausalLM
{
    /// <summary>The input embedding (Hugging Face: <c>model.embed_tokens</c>).</summary>
    Embedding EmbedTokens { get; }

    /// <summary>Logits [B, T, V] from input embeddings [B, T, H]. <paramref name="attentionMask"/> is [B, T], 1 for real tokens and 0 for padding, or null when there is no padding.</summary>
    Tensor ForwardEmbeddings(Tensor inputsEmbeds, Tensor? attentionMask = null);

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

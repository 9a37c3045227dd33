using IftSharp.Models;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>
/// The official IFT code's <c>self.embed_tokens</c>: a copy of the policy's input embedding that takes no gradient
/// and is overwritten with the policy's current weights after every optimizer step. Both terms of the fused input
/// are embedded with it, so the policy's input embedding receives no gradient from IFT (for untied embeddings).
/// </summary>
public sealed class FrozenEmbeddingCopy : IDisposable
{
    private readonly Tensor _weight;

    public FrozenEmbeddingCopy(ICausalLM model)
    {
        using var _ = no_grad();
        _weight = model.EmbedTokens.weight!.detach().clone().DetachFromDisposeScope();
    }

    /// <summary>Copies the policy's current embedding weights (call after each optimizer step).</summary>
    public void Sync(ICausalLM model)
    {
        using var _ = no_grad();
        _weight.copy_(model.EmbedTokens.weight!);
    }

    /// <summary>Embeddings [B, T, H] of ids [B, T], without gradient.</summary>
    public Tensor Embed(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var flat = _weight.index_select(0, ids.reshape(-1));
        return flat.reshape(ids.shape[0], ids.shape[1], _weight.shape[1]).MoveToOuterDisposeScope();
    }

    public void Dispose() => _weight.Dispose();
}

using IftSharp.Models;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>
/// The official IFT code's <c>self.embed_tokens</c>: the policy's input embedding, read without gradient. The official
/// trainer keeps a separate frozen copy and overwrites it with the policy's weights after every optimizer step, so in
/// every forward pass the copy equals the policy's current embedding; reading the policy's own weight, detached, gives
/// the same values without a second vocabulary × hidden matrix (0.5 GiB at Qwen2.5-0.5B, 1 GiB at Llama-3.2-1B in
/// float32). Both terms of the fused input are embedded with it, so the input embedding gets no gradient from IFT
/// (for untied embeddings).
/// </summary>
public sealed class FrozenEmbedding(ICausalLM model)
{
    /// <summary>Embeddings [B, T, H] of ids [B, T], without gradient.</summary>
    public Tensor Embed(Tensor ids)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var weight = model.EmbedTokens.weight!;
        var flat = weight.detach().index_select(0, ids.reshape(-1));
        return flat.reshape(ids.shape[0], ids.shape[1], weight.shape[1]).MoveToOuterDisposeScope();
    }
}

using IftSharp.Core;
using IftSharp.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Tests.Support;

/// <summary>
/// A few-hundred-parameter causal LM for tests (float64): embedding → causal running mean → tanh MLP → head.
/// Position t sees only positions ≤ t, like a decoder.
/// </summary>
public sealed class TinyCausalLM : nn.Module<Tensor, Tensor>, ICausalLM
{
    private readonly Embedding embed_tokens;
    private readonly Linear mix;
    private readonly Linear lm_head;

    public TinyCausalLM(int vocab = 11, int hidden = 6, long seed = 0) : base(nameof(TinyCausalLM))
    {
        embed_tokens = nn.Embedding(vocab, hidden, dtype: ScalarType.Float64);
        mix = nn.Linear(hidden, hidden, dtype: ScalarType.Float64);
        lm_head = nn.Linear(hidden, vocab, dtype: ScalarType.Float64);
        RegisterComponents();
        // Weights from a private generator: identical for the same seed even while other tests use the global RNG.
        var generator = new torch.Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var p in parameters())
            p.copy_(randn(p.shape, dtype: ScalarType.Float64, generator: generator).Times(0.7));
    }

    public Embedding EmbedTokens => embed_tokens;

    public Tensor ForwardHidden(Tensor inputsEmbeds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var t = inputsEmbeds.shape[1];
        var counts = ScalarArithmetic.Range(1, t + 1, dtype: inputsEmbeds.dtype).reshape(1, t, 1);
        var running = inputsEmbeds.cumsum(1) / counts;
        return tanh(mix.forward(running)).MoveToOuterDisposeScope();
    }

    public Tensor HeadWeight => lm_head.weight!;

    public Tensor? HeadBias => lm_head.bias;

    public override Tensor forward(Tensor inputIds) => ((ICausalLM)this).Forward(inputIds);
}

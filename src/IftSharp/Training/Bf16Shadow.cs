using IftSharp.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Training;

/// <summary>
/// bfloat16 mixed precision with float32 master weights: a bfloat16 copy of the model computes the forward and
/// backward passes; its gradients are accumulated into the float32 master parameters, which the optimizer (and its
/// float32 state) updates; the copy is refreshed from the masters before each step. A LlamaForCausalLM copy keeps its
/// token embedding in float32 (see the constructor). Losses are reduced in float32
/// because <see cref="Objectives.TokenLogProbs.Gather"/> upcasts logits.
/// </summary>
public sealed class Bf16Shadow
{
    private readonly (Parameter Master, Parameter Compute)[] _pairs;

    /// <param name="master">The float32 model the optimizer owns.</param>
    /// <param name="compute">A second instance of the same architecture; it is cast to bfloat16 here.</param>
    public Bf16Shadow(nn.Module master, nn.Module compute)
    {
        compute.to(ScalarType.BFloat16);
        // libtorch's CPU embedding backward adds each token's gradient into its row one at a time, rounding to the
        // weight's dtype after every addition: in bfloat16 a frequent token's row sums hundreds of terms that way
        // (measured on the benchmark model at its initial weights: 2.7 % relative error of the embedding gradient
        // against float64, 0.6 % with a float32 embedding). The lookup is cheap, so a
        // model.s embedding stays float32, as under torch.autocast; the model casts the looked-up rows to
        // bfloat16, and the tied head reads the weight in bfloat16.
        if (compute is Models.LlamaForCausalLM lm) lm.EmbedTokens.to(ScalarType.Float32);
        var masters = master.named_parameters().ToList();
        var computes = compute.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        if (masters.Count != computes.Count || masters.Any(m => !computes.ContainsKey(m.name)))
            throw new ArgumentException("the compute model must have the master's parameters");
        _pairs = masters.Select(m => (m.parameter, computes[m.name])).ToArray();
        PullWeights();
    }

    /// <summary>Copies the master weights into the bfloat16 model (rounding to nearest).</summary>
    public void PullWeights()
    {
        using var _ = no_grad();
        foreach (var (master, compute) in _pairs) compute.copy_(master);
    }

    /// <summary>Adds the bfloat16 model's gradients, in float32, to the masters' and clears them.</summary>
    public void PushGradients()
    {
        using var _ = no_grad();
        // The gradient handles are temporaries: the scope keeps them alive while libtorch uses them, then frees them.
        using var scope = NewDisposeScope();
        foreach (var (master, compute) in _pairs)
        {
            if (compute.grad is null) continue;
            if (master.grad is null)
                master.grad = compute.grad.dtype == master.dtype ? compute.grad.clone() : compute.grad.to(master.dtype);
            else master.grad.PlusInPlace(compute.grad);
            compute.grad = null;
        }
    }
}

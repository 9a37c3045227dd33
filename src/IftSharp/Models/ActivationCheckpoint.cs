using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// Gradient (activation) checkpointing, which TorchSharp lacks (no <c>torch.utils.checkpoint</c>), built on its custom
/// autograd functions: the forward pass runs without building a graph and keeps only its inputs; the backward pass
/// runs it again with gradient and back-propagates through the recomputed graph, whose parameter gradients accumulate
/// into <c>.grad</c> as in a plain backward. The parameters are inputs of the autograd node too, so its backward runs
/// even when no tensor input requires a gradient (IFT's fused embedding read without gradient, a frozen base under LoRA):
/// the pitfall of PyTorch's reentrant variant. The function must compute the same thing twice: anything it reads
/// besides its inputs and parameters (a LoRA adapter's enabled switch, the training mode) must not change in between.
/// </summary>
public static class ActivationCheckpoint
{
    /// <summary>One decoder layer (no KV cache), checkpointed.</summary>
    public static Tensor DecoderLayer(DecoderLayer layer, Tensor x, Tensor cos, Tensor sin, Tensor? mask, bool causal) =>
        Run(inputs => layer.Forward(inputs[0]!, inputs[1]!, inputs[2]!, inputs[3], causal, null),
            [x, cos, sin, mask], layer.TrainableParameters(), layer.DrawsRandomNumbers);

    /// <summary>
    /// <paramref name="function"/> of <paramref name="inputs"/> (null entries allowed) with its graph discarded, recomputed
    /// in backward. <paramref name="parameters"/> are the leaves, besides the inputs, it differentiates into (the trainable
    /// parameters of the module it runs). <paramref name="replayRandomNumbers"/> saves the CPU generator's
    /// state before the forward pass and restores it for the recomputation, so dropout draws the same masks.
    /// </summary>
    public static Tensor Run(Func<Tensor?[], Tensor> function, Tensor?[] inputs, IReadOnlyList<Tensor> parameters,
        bool replayRandomNumbers = false)
    {
        GradientHandoff.ReleaseHandedOver();
        var requiresGrad = inputs.Select(i => i is not null && i.requires_grad).ToArray();
        var recompute = new Recomputation(function, inputs.Length, requiresGrad, parameters.Count);
        // A scope of its own: TorchSharp's autograd node allocates an output-sized work tensor per output (used only when
        // an output gets no gradient); freed here rather than kept to the caller's scope end beside every layer's output.
        using var scope = NewDisposeScope();
        var rng = replayRandomNumbers ? torch.random.get_rng_state() : null;
        var args = new object?[] { recompute, rng }.Concat(inputs).Concat(parameters).ToArray();
        return RecomputingFunction.apply(args!).MoveToOuterDisposeScope();
    }

    /// <summary>What the backward pass needs besides the saved tensors (the parameters are the graph's leaves, found again).</summary>
    private sealed record Recomputation(Func<Tensor?[], Tensor> Function, int InputCount, bool[] InputRequiresGrad, int ParameterCount);

    private sealed class RecomputingFunction : autograd.SingleTensorFunction<RecomputingFunction>
    {
        public override string Name => nameof(RecomputingFunction);

        // vars: the Recomputation, the generator state (or null), the inputs, the parameters.
        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var recompute = (Recomputation)vars[0];
            var inputs = vars.Skip(2).Take(recompute.InputCount).Select(v => v as Tensor).ToArray();
            ctx.save_data("recompute", recompute);
            ctx.save_for_backward([.. inputs.Prepend(vars[1] as Tensor)]);
            return recompute.Function(inputs); // TorchSharp runs forward with gradient off: no graph is kept
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            GradientHandoff.ReleaseHandedOver();
            var recompute = (Recomputation)ctx.get_data("recompute");
            var result = new List<Tensor> { null!, null! };
            using (var scope = NewDisposeScope())
            {
                var saved = ctx.get_saved_variables();
                var rng = Defined(saved[0]);
                var inputs = saved.Skip(1)
                    .Select((t, i) => Defined(t) is Tensor d ? d.detach().requires_grad_(recompute.InputRequiresGrad[i]) : null).ToArray();
                var current = rng is null ? null : torch.random.get_rng_state();
                Tensor output;
                try
                {
                    if (rng is not null) torch.random.set_rng_state(rng);
                    using (enable_grad()) output = recompute.Function(inputs);
                }
                finally
                {
                    if (current is not null) torch.random.set_rng_state(current);
                }
                // As PyTorch's reentrant checkpoint: the parameters' gradients accumulate into their .grad as in a plain
                // backward; the inputs' land on the detached copies and are returned.
                autograd.backward([output], [gradOutput]);
                for (int i = 0; i < recompute.InputCount; i++)
                    result.Add(inputs[i] is Tensor input && recompute.InputRequiresGrad[i] ? input.grad! : null!);
                result.AddRange(Enumerable.Repeat((Tensor)null!, recompute.ParameterCount)); // accumulated above
                GradientHandoff.HandOver(result);
            }
            gradOutput.Dispose(); // TorchSharp's handle on the incoming gradient would otherwise live to the end of the step
            return result;
        }

        private static Tensor? Defined(Tensor? t) => t is null || t.IsInvalid ? null : t;
    }
}

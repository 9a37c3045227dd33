using IftSharp.Core;
using IftSharp.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>
/// Log-probabilities of target tokens through the LM head, a chunk of rows at a time, so the [N, V] logits (and
/// their gradient) never exist at once: at most one chunk's [c, V] does. Under autograd a custom function keeps only
/// its inputs and each row's log-sum-exp, and recomputes each chunk's logits in backward to produce the gradients of
/// the hidden states, the head weight and its bias (plain chunking would keep every chunk's logits for backward). A
/// parameter's gradient is accumulated straight into its <c>.grad</c> (see <see cref="GradientHandoff"/>).
/// The log-softmax is taken in float32 (float64 stays float64), as <see cref="TokenLogProbs.Gather"/> takes it.
/// </summary>
internal static class ChunkedHeadLogProbs
{
    /// <summary>
    /// <c>log_softmax((hidden·Wᵀ + b) / temperature)[target]</c> per row: <paramref name="hidden"/> [N, H],
    /// <paramref name="weight"/> [V, H] and <paramref name="bias"/> [V] in the hidden states' dtype, targets [N].
    /// Differentiable in hidden, weight and bias.
    /// </summary>
    public static Tensor LogProbs(Tensor hidden, Tensor weight, Tensor? bias, Tensor targets, double temperature, int chunk)
    {
        if (chunk <= 0) throw new ArgumentOutOfRangeException(nameof(chunk), "a chunk holds at least one position");
        GradientHandoff.ReleaseHandedOver();
        // A parameter (a leaf) gets its gradient accumulated straight into .grad; a cast copy's goes back through autograd.
        var settings = new Settings(temperature, chunk, hidden.requires_grad, weight.requires_grad, bias?.requires_grad ?? false,
            weight is Parameter, bias is Parameter);
        // Own scope: TorchSharp's node allocates an output-sized work tensor that is only needed when the output gets no gradient.
        using var scope = NewDisposeScope();
        return Function.apply(hidden, weight, bias!, targets, settings).MoveToOuterDisposeScope();
    }

    /// <summary>The same log-probabilities without gradient, and each row's greedy token (argmax of the logits).</summary>
    public static (Tensor LogProbs, Tensor Greedy) LogProbsAndGreedy(Tensor hidden, Tensor weight, Tensor? bias, Tensor targets,
        double temperature, int chunk)
    {
        if (chunk <= 0) throw new ArgumentOutOfRangeException(nameof(chunk), "a chunk holds at least one position");
        using var noGrad = no_grad();
        var greedy = empty(hidden.shape[0], ScalarType.Int64, hidden.device);
        var (logps, lse) = Forward(hidden, weight, bias, targets, temperature, chunk, greedy);
        lse.Dispose();
        return (logps, greedy);
    }

    private static ScalarType ReductionType(Tensor hidden) => hidden.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    /// <summary>One chunk's logits in the reduction dtype, divided by the temperature.</summary>
    private static Tensor ChunkLogits(Tensor h, Tensor weight, Tensor? bias, double temperature, ScalarType dtype)
    {
        var logits = nn.functional.linear(h, weight, bias);
        if (logits.dtype != dtype) logits = logits.to(dtype);
        if (temperature != 1.0) logits = logits.DividedBy(temperature);
        return logits;
    }

    /// <summary>Log-probs and log-sum-exps [N] (and greedy tokens into <paramref name="greedy"/> when given).</summary>
    private static (Tensor LogProbs, Tensor LogSumExp) Forward(Tensor hidden, Tensor weight, Tensor? bias, Tensor targets,
        double temperature, int chunk, Tensor? greedy)
    {
        var dtype = ReductionType(hidden);
        long n = hidden.shape[0];
        var logps = empty(n, dtype, hidden.device);
        var lse = empty(n, dtype, hidden.device);
        for (long start = 0; start < n; start += chunk)
        {
            using var scope = NewDisposeScope();
            long length = Math.Min(chunk, n - start);
            var logits = ChunkLogits(hidden.narrow(0, start, length), weight, bias, temperature, dtype);
            var rowLse = logits.logsumexp(-1);
            lse.narrow(0, start, length).copy_(rowLse);
            var picked = logits.gather(-1, targets.narrow(0, start, length).unsqueeze(-1)).squeeze(-1);
            logps.narrow(0, start, length).copy_(picked - rowLse);
            greedy?.narrow(0, start, length).copy_(logits.argmax(-1));
        }
        return (logps, lse);
    }

    private sealed record Settings(double Temperature, int Chunk, bool HiddenGrad, bool WeightGrad, bool BiasGrad,
        bool WeightIsLeaf, bool BiasIsLeaf);

    private sealed class Function : autograd.SingleTensorFunction<Function>
    {
        public override string Name => nameof(ChunkedHeadLogProbs);

        // vars: hidden, weight, bias (or null), targets, settings.
        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (hidden, weight, bias, targets) = ((Tensor)vars[0], (Tensor)vars[1], vars[2] as Tensor, (Tensor)vars[3]);
            var settings = (Settings)vars[4];
            var (logps, lse) = Forward(hidden, weight, bias, targets, settings.Temperature, settings.Chunk, greedy: null);
            ctx.save_for_backward([hidden, weight, bias!, targets, lse]);
            ctx.save_data("settings", settings);
            return logps;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            GradientHandoff.ReleaseHandedOver();
            var settings = (Settings)ctx.get_data("settings");
            using var scope = NewDisposeScope();
            var saved = ctx.get_saved_variables();
            var (hidden, weight, bias, targets, lse) = (saved[0], saved[1], saved[2], saved[3], saved[4]);
            if (bias is not null && bias.IsInvalid) bias = null;
            var dtype = ReductionType(hidden);
            long n = hidden.shape[0];
            var gradHidden = settings.HiddenGrad ? empty_like(hidden) : null;
            // The weight's gradient sums every chunk's: accumulated in float32 even when the head computes in bfloat16.
            var gradWeight = settings.WeightGrad ? zeros(weight.shape, dtype, weight.device) : null;
            var gradBias = settings.BiasGrad && bias is not null ? zeros(bias.shape, dtype, bias.device) : null;
            for (long start = 0; start < n; start += settings.Chunk)
            {
                using var chunkScope = NewDisposeScope();
                long length = Math.Min(settings.Chunk, n - start);
                var h = hidden.narrow(0, start, length);
                var g = gradOutput.narrow(0, start, length).to(dtype).unsqueeze(-1); // [c, 1]
                // d logp[target] / d logits = onehot(target) − softmax, times the upstream gradient, through the temperature.
                var dlogits = ChunkLogits(h, weight, bias, settings.Temperature, dtype);
                dlogits.PlusInPlace(lse.narrow(0, start, length).unsqueeze(-1), -1.0).exp_();
                dlogits.mul_(g.neg());
                dlogits.scatter_add_(-1, targets.narrow(0, start, length).unsqueeze(-1), g);
                if (settings.Temperature != 1.0) dlogits.TimesInPlace(1.0 / settings.Temperature);
                // The upcast's backward: the gradient reaches the head's matmul in the head's dtype.
                var d = dlogits.dtype == hidden.dtype ? dlogits : dlogits.to(hidden.dtype);
                gradHidden?.narrow(0, start, length).copy_(d.matmul(weight));
                // Accumulated in place (addmm_): a [V, H] temporary per chunk would cost as much as the logits saved.
                if (gradWeight is not null && d.dtype == gradWeight.dtype) gradWeight.addmm_(d.t(), h);
                else gradWeight?.PlusInPlace(d.t().matmul(h)); // bf16 product, float32 sum
                if (gradBias is not null) gradBias.PlusInPlace(d.sum(dim: 0L).to(dtype));
            }
            var result = new List<Tensor> { gradHidden!, null!, null!, null!, null! };
            if (gradWeight is not null)
            {
                // The saved leaf shares the parameter's storage and autograd identity: its .grad is the parameter's.
                if (settings.WeightIsLeaf) GradientHandoff.Accumulate(weight, gradWeight);
                else result[1] = gradWeight.dtype == weight.dtype ? gradWeight : gradWeight.to(weight.dtype);
            }
            if (gradBias is not null)
            {
                if (settings.BiasIsLeaf) GradientHandoff.Accumulate(bias!, gradBias);
                else result[2] = gradBias.dtype == bias!.dtype ? gradBias : gradBias.to(bias.dtype);
            }
            GradientHandoff.HandOver(result);
            gradOutput.Dispose(); // TorchSharp's handle on the incoming gradient would otherwise live to the end of the step
            return result;
        }
    }
}

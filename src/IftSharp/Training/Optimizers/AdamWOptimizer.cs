using IftSharp.Core;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Training.Optimizers;

/// <summary>
/// TorchSharp's AdamW (same state, same state-dict file, same arithmetic in the same order) with a step that keeps its
/// Scalars alive during each libtorch call: TorchSharp's own step passes temporary Scalars, which a garbage collection
/// on another thread can free mid-call (see <see cref="ScalarArithmetic"/>).
/// </summary>
public sealed class AdamWOptimizer(
    IEnumerable<Parameter> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
    : AdamW(parameters, lr, beta1, beta2, eps, weightDecay)
{
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = (Options)group.Options;
        double beta1 = options.beta1!.Value, beta2 = options.beta2!.Value, eps = options.eps!.Value;
        double weightDecay = options.weight_decay!.Value, lr = options.LearningRate!.Value;
        foreach (var param in group.Parameters)
        {
            var grad = param.grad;
            if (grad is null) continue;
            var state = (State)_state[param.Handle];
            state.step += 1;
            // Decoupled decay; with 0 the multiplication by 1 is skipped (a pass over the weights that changes nothing).
            if (weightDecay != 0) param.TimesInPlace(1 - lr * weightDecay);
            double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
            double biasCorrection2 = 1 - Math.Pow(beta2, state.step);
            state.exp_avg.TimesInPlace(beta1).PlusInPlace(grad, 1 - beta1);
            state.exp_avg_sq.TimesInPlace(beta2).AddcmulInPlace(grad, grad, 1 - beta2);
            // One temporary per parameter, freed at once: the step's scope would otherwise hold a weight-sized
            // denominator for every parameter until the last one is updated (the model's size again, at the peak).
            using var denom = state.exp_avg_sq.sqrt().DividedByInPlace(Math.Sqrt(biasCorrection2)).PlusInPlace(eps);
            param.AddcdivInPlace(state.exp_avg, denom, -(lr / biasCorrection1));
        }
    }, closure);
}

using IftSharp.Core;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Training.Optimizers;

/// <summary>
/// TorchSharp's RMSprop without momentum or centring (same state and arithmetic) with a step that keeps its Scalars
/// alive during each libtorch call (see <see cref="AdamWOptimizer"/>).
/// </summary>
public sealed class RmsPropOptimizer(
    IEnumerable<Parameter> parameters, double lr, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0)
    : RMSProp(parameters, lr, alpha, eps, weightDecay)
{
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = (Options)group.Options;
        double alpha = options.alpha!.Value, eps = options.eps!.Value;
        double weightDecay = options.weight_decay!.Value, lr = options.LearningRate!.Value;
        foreach (var param in group.Parameters)
        {
            var grad = param.grad;
            if (grad is null) continue;
            var state = (State)_state[param.Handle];
            state.step += 1;
            if (weightDecay != 0) grad = grad.Plus(param, weightDecay);
            state.square_avg.TimesInPlace(alpha).AddcmulInPlace(grad, grad, 1 - alpha);
            using var avg = state.square_avg.sqrt().PlusInPlace(eps); // freed at once, not at the end of the step
            param.AddcdivInPlace(grad, avg, -lr);
        }
    }, closure);
}

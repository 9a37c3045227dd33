using static TorchSharp.torch;

namespace IftSharp.Objectives;

/// <summary>
/// What an objective returns: the scalar loss (carrying the gradient) and detached scalar metrics named as TRL
/// names them (<c>rewards/chosen</c>, <c>rewards/margins</c>, <c>logps/chosen</c>, ...).
/// </summary>
public sealed class ObjectiveResult(Tensor loss, IReadOnlyDictionary<string, double> metrics)
{
    public Tensor Loss { get; } = loss;
    public IReadOnlyDictionary<string, double> Metrics { get; } = metrics;

    internal static double Scalar(Tensor t)
    {
        using var _ = no_grad();
        return t.detach().to_type(ScalarType.Float64).item<double>();
    }

    internal static double Mean(Tensor t)
    {
        using var _ = no_grad();
        using var m = t.detach().to_type(ScalarType.Float64).mean();
        return m.item<double>();
    }
}

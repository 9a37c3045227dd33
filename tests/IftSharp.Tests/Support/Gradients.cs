using IftSharp.Core;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Support;

public static class Gradients
{
    /// <summary>
    /// Checks autograd's gradient of a scalar function of a float64 tensor against central finite differences at every coordinate.
    /// </summary>
    public static void CheckFiniteDifferences(Func<Tensor, Tensor> f, Tensor at, double h = 1e-6, double tolerance = 1e-6)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(ScalarType.Float64, at.dtype);
        var x = at.detach().clone().requires_grad_(true);
        f(x).backward();
        var analytic = x.grad!.detach().clone();
        var flat = at.detach().clone().reshape(-1);
        var numeric = zeros_like(flat);
        using (no_grad())
        {
            for (long i = 0; i < flat.shape[0]; i++)
            {
                // ScalarArithmetic, not operators with numbers: the loop is long enough to meet TorchSharp's Scalar race.
                var plus = flat.clone(); plus[i].PlusInPlace(h);
                var minus = flat.clone(); minus[i].PlusInPlace(-h);
                numeric[i] = (f(plus.reshape(at.shape)) - f(minus.reshape(at.shape))).DividedBy(2 * h);
            }
        }
        AssertClose(numeric.reshape(at.shape), analytic, tolerance);
    }

    public static void AssertClose(Tensor expected, Tensor actual, double tolerance)
    {
        Assert.Equal(expected.shape, actual.shape);
        var diff = (expected.to_type(ScalarType.Float64) - actual.to_type(ScalarType.Float64)).abs().max().item<double>();
        Assert.True(diff <= tolerance, $"max abs difference {diff} > {tolerance}");
    }
}

using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Support;

/// <summary>Copies of named gradients, to compare two backward passes that should agree.</summary>
public static class GradientSnapshot
{
    /// <summary>A module's named parameters, then <paramref name="extra"/> (inputs whose gradients are compared too).</summary>
    public static List<(string Name, Tensor Tensor)> Parameters(nn.Module model, params (string, Tensor)[] extra) =>
        model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(extra).ToList();

    /// <summary>Clones of every named tensor's gradient (absent gradients left out), then clears them.</summary>
    public static Dictionary<string, Tensor> Take(IEnumerable<(string Name, Tensor Tensor)> tensors)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, t) in tensors)
        {
            if (t.grad is null) continue;
            result[name] = t.grad.detach().clone().to(ScalarType.Float64);
            t.grad = null;
        }
        return result;
    }

    /// <summary>Asserts the same gradients are present and each agrees to <paramref name="relative"/> of its largest element.</summary>
    public static void AssertEqual(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual, double relative)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, e) in expected)
        {
            double scale = e.abs().max().item<double>();
            Assert.True(scale > 0, $"{name}: a zero gradient would make the comparison vacuous");
            double diff = (e - actual[name]).abs().max().item<double>();
            Assert.True(diff <= relative * scale, $"{name}: max |Δ| {diff:G3} > {relative:G1} × {scale:G3}");
        }
    }
}

using IftSharp.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

/// <summary>Autograd through the decoder (masked SDPA, RoPE, RMSNorm, tied head) against central differences in float64.</summary>
public class DecoderGradientTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EmbeddingAndWeightGradientsMatchFiniteDifferences(bool leftPadded)
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.GradientLlama(tied: true, seed: 2);
        var embeds = randn(new long[] { 2, 5, 32 }, dtype: ScalarType.Float64, generator: new torch.Generator(3)).requires_grad_(true);
        var mask = tensor(new long[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 }, [2, 5]);
        var weights = randn(new long[] { 2, 5, 97 }, dtype: ScalarType.Float64, generator: new torch.Generator(4)) * mask.unsqueeze(-1);
        Tensor? useMask = leftPadded ? mask : null;
        Tensor Loss() => (model.ForwardEmbeddings(embeds, useMask) * weights).sum();
        Loss().backward();
        var normWeight = model.Backbone.Norm.Weight;
        var embedWeight = model.EmbedTokens.weight!;
        var checks = new (Tensor Leaf, Tensor Grad, long[] Index)[]
        {
            (embeds, embeds.grad!.clone(), [0, 3, 7]),
            (embeds, embeds.grad!.clone(), [1, 1, 20]),
            (normWeight, normWeight.grad!.clone(), [5]),
            (embedWeight, embedWeight.grad!.clone(), [11, 2]),
        };
        using var _ = no_grad();
        foreach (var (leaf, grad, index) in checks)
        {
            var element = leaf[index.Select(i => TensorIndex.Single(i)).ToArray()];
            double original = element.item<double>(), h = 1e-6;
            element.fill_(original + h);
            double plus = Loss().item<double>();
            element.fill_(original - h);
            double minus = Loss().item<double>();
            element.fill_(original);
            double numeric = (plus - minus) / (2 * h);
            double analytic = grad[index.Select(i => TensorIndex.Single(i)).ToArray()].item<double>();
            Assert.True(Math.Abs(numeric - analytic) <= 1e-6 * Math.Max(1, Math.Abs(numeric)),
                $"[{string.Join(",", index)}]: numeric {numeric}, analytic {analytic}");
            Assert.True(Math.Abs(analytic) > 1e-6, "a vanishing gradient would make this check vacuous");
        }
    }
}

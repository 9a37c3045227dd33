using IftSharp.Training.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Training.Optimizers;

/// <summary>Our Scalar-safe steps must do exactly what TorchSharp's optimizers do (same state, same arithmetic).</summary>
public class OptimizerStepTests
{
    private static Tensor Train(Func<IEnumerable<Parameter>, optim.Optimizer> create)
    {
        using var scope = NewDisposeScope();
        var w = new Parameter(tensor(new float[] { 0.5f, -1.25f, 2f, 0.1f }));
        var target = tensor(new float[] { 1f, 0f, -1f, 3f });
        var optimizer = create([w]);
        for (int step = 0; step < 7; step++)
        {
            optimizer.zero_grad();
            (w - target).pow(2).mul(tensor(new float[] { 1f, 2f, 3f, 4f })).sum().backward();
            optimizer.step();
        }
        return w.detach().clone().MoveToOuterDisposeScope();
    }

    [Theory]
    [InlineData("adamw", 0.0)]
    [InlineData("adamw", 0.01)]
    [InlineData("rmsprop", 0.0)]
    [InlineData("rmsprop", 0.01)]
    public void MatchesTorchSharp(string kind, double weightDecay)
    {
        using var expected = Train(p => kind == "adamw"
            ? optim.AdamW(p, lr: 0.05, weight_decay: weightDecay)
            : optim.RMSProp(p, lr: 0.01, weight_decay: weightDecay));
        using var actual = Train(p => kind == "adamw"
            ? new AdamWOptimizer(p, 0.05, weightDecay: weightDecay)
            : new RmsPropOptimizer(p, 0.01, weightDecay: weightDecay));
        Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
    }

    [Fact]
    public void AdamWWithoutDecayIsAdam()
    {
        using var expected = Train(p => optim.Adam(p, lr: 0.05));
        using var actual = Train(p => new AdamWOptimizer(p, 0.05, weightDecay: 0));
        Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
    }
}

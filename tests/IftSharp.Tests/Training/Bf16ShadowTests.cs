using IftSharp.Models;
using IftSharp.Tests.Support;
using IftSharp.Training;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Training;

public class Bf16ShadowTests
{
    [Fact]
    public void ComputeCopyIsTheMasterInBfloat16AndGradientsReturnInTheMastersPrecision()
    {
        using var scope = NewDisposeScope();
        var master = new TinyCausalLM(seed: 0);
        var compute = new TinyCausalLM(seed: 9);
        var shadow = new Bf16Shadow(master, compute);
        var masters = master.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in compute.named_parameters())
        {
            Assert.Equal(ScalarType.BFloat16, p.dtype);
            Assert.True(p.to(ScalarType.Float64).eq(masters[name].to(ScalarType.BFloat16).to(ScalarType.Float64)).all().item<bool>(), name);
        }

        var ids = tensor(new long[,] { { 1, 2, 3, 4 } });
        ((ICausalLM)compute).Forward(ids).to(ScalarType.Float32).log_softmax(-1).mean().backward();
        var expected = compute.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.to(ScalarType.Float64));
        shadow.PushGradients();
        shadow.PushGradients(); // nothing left to push: no double counting
        foreach (var (name, p) in master.named_parameters())
        {
            Assert.Equal(ScalarType.Float64, p.grad!.dtype);
            Assert.True(p.grad.eq(expected[name]).all().item<bool>(), name);
        }
        Assert.All(compute.parameters(), p => Assert.Null(p.grad));
    }
}

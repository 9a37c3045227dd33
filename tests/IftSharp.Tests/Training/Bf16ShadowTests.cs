using IftSharp.Models;
using IftSharp.Tests.Support;
using IftSharp.Training;
using TorchSharp;
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

public class Bf16EmbeddingTests
{
    [Fact]
    public void LlamaComputeCopyKeepsItsEmbeddingInFloat32SoTheRowsGradientsSumInFloat32()
    {
        using var scope = NewDisposeScope();
        var master = TinyLlama.Create();
        var compute = new LlamaForCausalLM(master.Config);
        var shadow = new Bf16Shadow(master, compute);
        Assert.Equal(ScalarType.Float32, compute.EmbedTokens.weight!.dtype);
        Assert.Equal(ScalarType.BFloat16, compute.Dtype);
        var reference = new LlamaForCausalLM(master.Config);
        reference.to(ScalarType.Float64);
        using (no_grad()) foreach (var (name, p) in reference.named_parameters()) p.copy_(master.get_parameter(name)!);

        // Two tokens alternating over 8 × 128 positions: each of their embedding rows sums 512 token gradients
        // (10 % off when those sums run in bfloat16, 0.3 % in float32).
        var ids = arange(8 * 128, dtype: ScalarType.Int64).remainder(2).add(65).reshape(8, 128);
        Tensor Loss(LlamaForCausalLM m) => m.Forward(ids).to(ScalarType.Float64).log_softmax(-1).narrow(-1, 65, 2).mean();
        Loss(reference).backward();
        Loss(compute).backward();
        shadow.PushGradients();
        var exact = reference.EmbedTokens.weight!.grad!;
        var mixed = master.EmbedTokens.weight!.grad!.to(ScalarType.Float64);
        double error = ((mixed - exact).norm() / exact.norm()).item<double>();
        Assert.True(error < 0.02, $"embedding gradient off by {error:P2}");
    }
}

public class Bf16TrainingTests
{
    [Theory]
    [InlineData("sft")]
    [InlineData("ift")]
    public void Bf16TrainingFollowsTheFloat32LossCurveAndKeepsFloat32Masters(string method)
    {
        var options = new TrainerOptions { MaxSteps = 30, BatchSize = 4, LearningRate = 1e-2 };
        using var f32 = TinyLlama.Create();
        var reference = Runs.Train(method, f32, TinyLlama.ReversalExamples(), TinyLlama.PadId, options).Select(m => m.Loss).ToList();
        using var master = TinyLlama.Create();
        using var compute = new LlamaForCausalLM(master.Config);
        var mixed = Runs.Train(method, master, TinyLlama.ReversalExamples(), TinyLlama.PadId, options, bf16Compute: compute)
            .Select(m => m.Loss)
            .ToList();
        Assert.All(master.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        foreach (var (name, p) in compute.named_parameters())
            Assert.Equal(name == "model.embed_tokens.weight" ? ScalarType.Float32 : ScalarType.BFloat16, p.dtype);
        Assert.True(mixed[^1] < 0.5 * mixed[0], $"bf16 did not train: {mixed[0]} → {mixed[^1]}");
        // bfloat16 keeps 8 bits of mantissa: the curves agree on average to a few percent, not bit for bit.
        double meanRelative = reference.Zip(mixed, (r, m) => Math.Abs(m - r) / r).Average();
        var curves = $"bf16 {string.Join(" ", mixed.Select(x => x.ToString("F2")))} "
            + $"vs float32 {string.Join(" ", reference.Select(x => x.ToString("F2")))}";
        Assert.True(meanRelative < 0.05, $"mean relative difference {meanRelative:P1}: {curves}");
        Assert.True(Math.Abs(mixed[^1] - reference[^1]) < 0.1 * reference[^1], curves);
    }
}

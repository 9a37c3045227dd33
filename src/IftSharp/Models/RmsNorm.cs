using IftSharp.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// RMS normalisation as Hugging Face's LlamaRMSNorm: normalised in float32 (float64 stays float64), cast back, then scaled.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    public RmsNorm(long size, double eps, ParameterAllocation? allocation = null) : base(nameof(RmsNorm))
    {
        this.eps = eps;
        weight = (allocation ?? ParameterAllocation.Initialized).Ones(size);
        register_parameter("weight", weight);
    }

    public Parameter Weight => weight;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var inputType = x.dtype;
        // HF upcasts half precision to float32; float64 (gradient checks) must not be narrowed.
        var h = inputType == float64 ? x : x.to(float32);
        var variance = h.Power(2).mean([-1L], keepdim: true);
        h = h * rsqrt(variance.Plus(eps));
        return (weight * h.to(inputType)).MoveToOuterDisposeScope();
    }
}

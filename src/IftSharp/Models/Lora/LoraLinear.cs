using IftSharp.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models.Lora;

/// <summary>
/// The LoRA update of one linear projection, as PEFT's <c>lora.Linear</c> computes it: <c>base(x) + B(A(dropout(x)))·scaling</c>
/// with A [r, in] and B [out, r]. The base projection is not owned here (it stays a plain <c>Linear</c> under its Hugging
/// Face name, so the model's state dict and checkpoints are unchanged by an adapter).
/// </summary>
public sealed class LoraLinear : IDisposable
{
    /// <param name="dtype">The adapter's dtype. PEFT keeps adapters of a half-precision base in float32; the input is cast to it.</param>
    /// <param name="init">
    /// Draws A (Kaiming-uniform with a = √5, PEFT's and nn.Linear's default); B starts at zero, so a new adapter changes nothing.
    /// </param>
    public LoraLinear(long inFeatures, long outFeatures, int r, double scaling, double dropout, ScalarType dtype, torch.Generator? init)
    {
        Scaling = scaling;
        Dropout = dropout;
        using var noGrad = no_grad();
        // kaiming_uniform_(a=√5) on [r, in]: gain √(2 / (1 + 5)), bound gain·√(3 / fan_in) = 1 / √in.
        double bound = 1.0 / Math.Sqrt(inFeatures);
        A = new Parameter(empty(new[] { (long)r, inFeatures }, dtype).uniform_(-bound, bound, init));
        B = new Parameter(zeros(new[] { outFeatures, (long)r }, dtype));
    }

    /// <summary>PEFT's <c>lora_A.weight</c>, [r, in].</summary>
    public Parameter A { get; }

    /// <summary>PEFT's <c>lora_B.weight</c>, [out, r].</summary>
    public Parameter B { get; }

    public double Scaling { get; }
    public double Dropout { get; }

    /// <summary>Whether the update is applied; a disabled adapter leaves the base projection exactly as it was.</summary>
    public bool Enabled { get; set; } = true;

    public long Rank => A.shape[0];

    /// <summary><c>B(A(dropout(x)))·scaling</c> in the adapter's dtype; dropout only when <paramref name="training"/>.</summary>
    public Tensor Delta(Tensor x, bool training)
    {
        using var scope = NewDisposeScope();
        var input = x.dtype == A.dtype ? x : x.to(A.dtype);
        if (training && Dropout > 0) input = nn.functional.dropout(input, Dropout, training: true);
        var update = nn.functional.linear(nn.functional.linear(input, A), B).Times(Scaling);
        return update.MoveToOuterDisposeScope();
    }

    /// <summary>The base projection's output, plus <paramref name="adapter"/>'s update (in its dtype) when enabled.</summary>
    public static Tensor Apply(Linear linear, LoraLinear? adapter, Tensor x, bool training)
    {
        if (adapter is null || !adapter.Enabled) return linear.forward(x);
        using var scope = NewDisposeScope();
        var y = linear.forward(x);
        var delta = adapter.Delta(x, training);
        return y.Plus(delta.dtype == y.dtype ? delta : delta.to(y.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <c>W += B·A·scaling</c>, the product and the sum in float32 (float64 stays float64) and rounded once to W's dtype:
    /// a half-precision W is not summed in half precision.
    /// </summary>
    public void MergeInto(Tensor weight)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var accumulate = weight.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var delta = B.to(accumulate).matmul(A.to(accumulate)).Times(Scaling);
        weight.copy_(weight.to(accumulate).Plus(delta));
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}

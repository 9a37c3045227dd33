using IftSharp.Core;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// How IftSharp's custom autograd functions give their gradients to libtorch without holding them longer than needed.
/// TorchSharp's node reads the handles a <c>backward</c> returns right after it returns, so they must outlive the call;
/// moved to the caller's dispose scope they would live to the end of the training step, and a parameter gradient held
/// that way also stops autograd from taking the buffer over as <c>.grad</c> (it copies it): every layer's parameter
/// gradients twice. So gradients into parameters are accumulated straight into <c>.grad</c> (what autograd's
/// AccumulateGrad does), and the few returned ones (input gradients) are freed at the next custom backward or forward
/// on the same thread, by which time libtorch holds its own reference.
/// </summary>
internal static class GradientHandoff
{
    [ThreadStatic] private static List<Tensor>? _handedOver;

    /// <summary>Frees the gradients the previous custom backward on this thread returned (libtorch copied them when it returned).</summary>
    public static void ReleaseHandedOver()
    {
        if (_handedOver is null) return;
        foreach (var t in _handedOver) t.Dispose();
        _handedOver.Clear();
    }

    /// <summary>The list a backward returns, its tensors out of every dispose scope until <see cref="ReleaseHandedOver"/>.</summary>
    public static List<Tensor> HandOver(List<Tensor> gradients)
    {
        ReleaseHandedOver();
        _handedOver ??= [];
        foreach (var g in gradients)
        {
            if (g is null) continue;
            g.DetachFromDisposeScope();
            _handedOver.Add(g);
        }
        return gradients;
    }

    /// <summary>Adds <paramref name="gradient"/> into the leaf's <c>.grad</c>, taking the buffer over when there is none yet.</summary>
    public static void Accumulate(Tensor leaf, Tensor gradient)
    {
        using var scope = NewDisposeScope();
        if (gradient.dtype != leaf.dtype) gradient = gradient.to(leaf.dtype);
        var existing = leaf.grad;
        if (existing is null) leaf.grad = gradient;
        else existing.PlusInPlace(gradient);
    }
}

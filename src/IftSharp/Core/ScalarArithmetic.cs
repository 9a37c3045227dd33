using IftSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Core;

/// <summary>
/// Tensor–number arithmetic whose <see cref="Scalar"/> stays alive until libtorch has read it. IftSharp's code uses
/// these instead of TorchSharp's operators with numbers (<c>x * 0.5</c>, <c>1 - x</c>), instead of <c>x + y</c> and
/// <c>x.add_(y)</c>, and instead of implicit number-to-Scalar conversions; a test scans the compiled IL to keep it so.
/// </summary>
/// <remarks>
/// Why: TorchSharp 0.107 passes a Scalar's native pointer to libtorch and keeps no reference to the Scalar during the
/// call (no <c>GC.KeepAlive</c>). A temporary Scalar — an implicit conversion, or the <c>alpha = 1</c> TorchSharp
/// creates inside <c>x + y</c> — can therefore be finalised, and its native memory freed, by a garbage collection
/// another thread triggers while libtorch still reads it. libtorch then fails with "Expected false to be true …
/// Scalar.h toFloat" (or reads a wrong value). A loop of <c>x.add_(y)</c> beside one allocating thread fails within
/// seconds. Here a Scalar is either static (never collected) or disposed after the call returns, which keeps it
/// reachable for the whole call.
/// </remarks>
public static class ScalarArithmetic
{
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>
    /// Runs <paramref name="op"/> and disposes <paramref name="s"/> after it returns, which keeps it reachable during the call.
    /// </summary>
    private static Tensor With(Scalar s, Func<Scalar, Tensor> op)
    {
        using (s) return op(s);
    }

    /// <summary><c>x + y</c>.</summary>
    public static Tensor Plus(this Tensor x, Tensor y) => x.add(y, One);

    /// <summary><c>x + alpha · y</c>.</summary>
    public static Tensor Plus(this Tensor x, Tensor y, double alpha) => With(alpha.ToScalar(), a => x.add(y, a));

    /// <summary><c>x += y</c> in place.</summary>
    public static Tensor PlusInPlace(this Tensor x, Tensor y) => x.add_(y, One);

    /// <summary><c>x += alpha · y</c> in place.</summary>
    public static Tensor PlusInPlace(this Tensor x, Tensor y, double alpha) => With(alpha.ToScalar(), a => x.add_(y, a));

    // Integer overloads keep integer tensors integer, as TorchSharp's operators with an int do.
    /// <summary><c>x + c</c>.</summary>
    public static Tensor Plus(this Tensor x, double c) => With(c.ToScalar(), s => x.add(s, One));
    /// <summary><c>x + c</c>.</summary>
    public static Tensor Plus(this Tensor x, long c) => With(c.ToScalar(), s => x.add(s, One));

    /// <summary><c>x += c</c> in place.</summary>
    public static Tensor PlusInPlace(this Tensor x, double c) => With(c.ToScalar(), s => x.add_(s, One));

    /// <summary><c>x − c</c>.</summary>
    public static Tensor Minus(this Tensor x, double c) => With(c.ToScalar(), s => x.sub(s));
    /// <summary><c>x − c</c>.</summary>
    public static Tensor Minus(this Tensor x, long c) => With(c.ToScalar(), s => x.sub(s));

    /// <summary><c>c − x</c>, computed as <c>−x + c</c> (exact, as TorchSharp's and PyTorch's reflected subtraction).</summary>
    public static Tensor SubtractedFrom(this Tensor x, double c) => x.neg().Plus(c);

    /// <summary><c>c · x</c>.</summary>
    public static Tensor Times(this Tensor x, double c) => With(c.ToScalar(), s => x.mul(s));
    /// <summary><c>c · x</c>.</summary>
    public static Tensor Times(this Tensor x, long c) => With(c.ToScalar(), s => x.mul(s));

    /// <summary><c>x *= c</c> in place.</summary>
    public static Tensor TimesInPlace(this Tensor x, double c) => With(c.ToScalar(), s => x.mul_(s));

    /// <summary><c>x / c</c> (true division).</summary>
    public static Tensor DividedBy(this Tensor x, double c) => With(c.ToScalar(), s => x.div(s));
    /// <summary><c>x / c</c> (true division).</summary>
    public static Tensor DividedBy(this Tensor x, long c) => With(c.ToScalar(), s => x.div(s));

    /// <summary>x /= c, in place.</summary>
    public static Tensor DividedByInPlace(this Tensor x, double c) => With(c.ToScalar(), s => x.div_(s));

    /// <summary><c>c / x</c>, computed as <c>(1 / x) · c</c> (as TorchSharp's and PyTorch's reflected division).</summary>
    public static Tensor Into(this Tensor x, double c) => x.reciprocal().Times(c);

    /// <summary><c>x ** p</c>.</summary>
    public static Tensor Power(this Tensor x, long p) => With(p.ToScalar(), s => x.pow(s));

    /// <summary><c>x &lt; c</c>.</summary>
    public static Tensor LessThan(this Tensor x, double c) => With(c.ToScalar(), s => x.lt(s));
    /// <summary><c>x ≤ c</c>.</summary>
    public static Tensor LessOrEqual(this Tensor x, double c) => With(c.ToScalar(), s => x.le(s));
    /// <summary><c>x &gt; c</c>.</summary>
    public static Tensor GreaterThan(this Tensor x, double c) => With(c.ToScalar(), s => x.gt(s));
    /// <summary><c>x ≥ c</c>.</summary>
    public static Tensor GreaterOrEqual(this Tensor x, double c) => With(c.ToScalar(), s => x.ge(s));

    /// <summary><c>x == c</c>.</summary>
    public static Tensor Equal(this Tensor x, long c) => With(c.ToScalar(), s => x.eq(s));
    /// <summary><c>x ≠ c</c>.</summary>
    public static Tensor NotEqual(this Tensor x, long c) => With(c.ToScalar(), s => x.ne(s));

    /// <summary>x with <paramref name="value"/> where <paramref name="mask"/> is true.</summary>
    public static Tensor MaskedFill(this Tensor x, Tensor mask, double value) => With(value.ToScalar(), s => x.masked_fill(mask, s));
    /// <summary>x with <paramref name="value"/> where <paramref name="mask"/> is true.</summary>
    public static Tensor MaskedFill(this Tensor x, Tensor mask, long value) => With(value.ToScalar(), s => x.masked_fill(mask, s));

    /// <summary>Every element of x set to <paramref name="value"/>, in place.</summary>
    public static Tensor FillInPlace(this Tensor x, bool value) => With(value.ToScalar(), s => x.fill_(s));
    /// <summary>Every element of x set to <paramref name="value"/>, in place.</summary>
    public static Tensor FillInPlace(this Tensor x, double value) => With(value.ToScalar(), s => x.fill_(s));
    /// <summary>Every element of x set to <paramref name="value"/>, in place.</summary>
    public static Tensor FillInPlace(this Tensor x, long value) => With(value.ToScalar(), s => x.fill_(s));

    /// <summary><c>x += value · a · b</c> in place.</summary>
    public static Tensor AddcmulInPlace(this Tensor x, Tensor a, Tensor b, double value) =>
        With(value.ToScalar(), s => x.addcmul_(a, b, s));

    /// <summary><c>x += value · a / b</c> in place.</summary>
    public static Tensor AddcdivInPlace(this Tensor x, Tensor a, Tensor b, double value) =>
        With(value.ToScalar(), s => x.addcdiv_(a, b, s));

    /// <summary><c>x</c> limited to at least <paramref name="min"/>.</summary>
    public static Tensor AtLeast(this Tensor x, double min) => With(min.ToScalar(), s => x.clamp_min(s));
    /// <summary><c>x</c> limited to at least <paramref name="min"/> (integer tensors stay integer).</summary>
    public static Tensor AtLeast(this Tensor x, long min) => With(min.ToScalar(), s => x.clamp_min(s));
    /// <summary><c>x</c> limited to at most <paramref name="max"/>.</summary>
    public static Tensor AtMost(this Tensor x, double max) => With(max.ToScalar(), s => x.clamp_max(s));

    /// <summary><c>start, start + step, …</c> below <paramref name="stop"/>, as <c>arange</c>.</summary>
    public static Tensor Range(long start, long stop, long step = 1, ScalarType dtype = ScalarType.Int64, Device? device = null)
    {
        using var a = start.ToScalar();
        using var b = stop.ToScalar();
        using var c = step.ToScalar();
        return arange(a, b, c, dtype, device);
    }
}

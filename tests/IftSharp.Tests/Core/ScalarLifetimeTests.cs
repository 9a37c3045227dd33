using System.Reflection;
using IftSharp.Core;
using IftSharp.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Core;

/// <summary>
/// TorchSharp frees a temporary Scalar from its finaliser even while libtorch is still reading it (see
/// <see cref="ScalarArithmetic"/>). These tests read IftSharp's compiled IL and fail on any call that creates such a
/// temporary: an implicit number-to-Scalar conversion, a TorchSharp method that makes one inside (x + y, x * 0.5,
/// arange(n), ...), or a TorchSharp optimizer whose step does.
/// </summary>
public class ScalarLifetimeTests
{
    private static readonly Assembly TorchSharpAssembly = typeof(Scalar).Assembly;
    private static readonly Assembly[] OwnAssemblies =
        [typeof(InputException).Assembly, typeof(IftSharp.Cli.Commands.CommandCatalog).Assembly];
    private readonly Dictionary<MethodBase, bool> _makesTemporary = new();

    private static bool CreatesScalar(MethodBase m) =>
        (m.DeclaringType == typeof(Scalar) && m.Name == "op_Implicit") ||
        (m.DeclaringType == typeof(ScalarExtensionMethods) && m.Name == "ToScalar");

    /// <summary>Whether a TorchSharp method creates a Scalar it does not keep (searched four calls deep inside TorchSharp).</summary>
    private bool MakesTemporaryScalar(MethodBase m, int depth = 0)
    {
        if (_makesTemporary.TryGetValue(m, out var known)) return known;
        _makesTemporary[m] = false; // recursion guard
        var result = IlCalls.Callees(m).Any(c => CreatesScalar(c) ||
            (depth < 4 && c.DeclaringType?.Assembly == TorchSharpAssembly && MakesTemporaryScalar(c, depth + 1)));
        return _makesTemporary[m] = result;
    }

    private static string Name(MethodBase m) => $"{m.DeclaringType?.FullName}.{m.Name}";

    private static IEnumerable<(MethodBase Caller, MethodBase Callee)> Calls() =>
        OwnAssemblies.SelectMany(IlCalls.MethodsOf).SelectMany(m => IlCalls.Callees(m).Select(c => (m, c)));

    [Fact]
    public void OnlyScalarArithmeticCreatesScalars()
    {
        var offenders = Calls()
            .Where(call => CreatesScalar(call.Callee) && call.Caller.DeclaringType != typeof(ScalarArithmetic))
            .Select(call => $"{Name(call.Caller)} calls {Name(call.Callee)}({call.Callee.GetParameters()[0].ParameterType.Name})")
            .Distinct().ToList();
        Assert.True(offenders.Count == 0, "use ScalarArithmetic instead:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void NoTorchSharpCallMakesATemporaryScalar()
    {
        var offenders = Calls()
            .Where(call => call.Callee.DeclaringType?.Assembly == TorchSharpAssembly && !IsOwnOptimizerBase(call)
                           && MakesTemporaryScalar(call.Callee))
            .Select(call => $"{Name(call.Caller)} calls {Name(call.Callee)}"
                            + $"({string.Join(", ", call.Callee.GetParameters().Select(p => p.ParameterType.Name))})")
            .Distinct().ToList();
        Assert.True(offenders.Count == 0, "use ScalarArithmetic instead:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void TorchSharpOptimizersAreOnlyUsedThroughOurSteps()
    {
        var offenders = Calls()
            .Where(call => call.Callee.DeclaringType?.Assembly == TorchSharpAssembly && !IsOwnOptimizerBase(call) &&
                           (call.Callee is MethodInfo mi && typeof(optim.Optimizer).IsAssignableFrom(mi.ReturnType) ||
                            call.Callee is ConstructorInfo ci && typeof(optim.Optimizer).IsAssignableFrom(ci.DeclaringType)))
            .Select(call => $"{Name(call.Caller)} creates {call.Callee.DeclaringType?.Name} via {call.Callee.Name}")
            .Distinct().ToList();
        Assert.True(offenders.Count == 0, "use IftSharp.Training.Optimizers instead:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void TorchSharpModulesWeCreateDoNotMakeTemporaryScalars()
    {
        // Their forward runs by virtual dispatch, which the call scan cannot follow.
        var modules = Calls()
            .Select(call => call.Callee switch
            {
                ConstructorInfo c => c.DeclaringType,
                MethodInfo m => m.ReturnType,
                _ => null,
            })
            .Where(t => t is not null && t.Assembly == TorchSharpAssembly && typeof(nn.Module).IsAssignableFrom(t))
            .Distinct().ToList();
        Assert.NotEmpty(modules);
        var offenders = modules
            .SelectMany(t => t!.GetMethods(IlCalls.Everything).Where(m => m.Name == "forward"))
            .Where(m => MakesTemporaryScalar(m))
            .Select(Name).ToList();
        Assert.True(offenders.Count == 0, "these TorchSharp modules make temporary Scalars:\n" + string.Join("\n", offenders));
    }

    /// <summary>Our optimizers call their TorchSharp base constructor; that is the one allowed use.</summary>
    private static bool IsOwnOptimizerBase((MethodBase Caller, MethodBase Callee) call) =>
        call.Callee is ConstructorInfo && call.Caller is ConstructorInfo &&
        call.Caller.DeclaringType!.BaseType == call.Callee.DeclaringType;

    [Fact]
    public void TheScanSeesTheCallsItForbids()
    {
        // The rules above are only as good as the scan: it must see a temporary made by an operator, a default
        // argument, and an implicit conversion in a lambda.
        var method = typeof(ScalarLifetimeTests).GetMethod(nameof(Forbidden), BindingFlags.NonPublic | BindingFlags.Static)!;
        var callees = IlCalls.Callees(method).ToList();
        Assert.Contains(callees, c => c.Name == "op_Addition" && MakesTemporaryScalar(c));
        Assert.Contains(callees, c => c.Name == "add_" && MakesTemporaryScalar(c));
        var lambda = typeof(ScalarLifetimeTests).GetNestedTypes(BindingFlags.NonPublic).SelectMany(IlCallsOfType).ToList();
        Assert.Contains(lambda, CreatesScalar);
        Assert.False(MakesTemporaryScalar(typeof(Tensor).GetMethod("mul", [typeof(Scalar)])!));
    }

    private static IEnumerable<MethodBase> IlCallsOfType(Type t) => t.GetMethods(IlCalls.Everything).SelectMany(IlCalls.Callees);

    private static Tensor Forbidden(Tensor x, Tensor y)
    {
        Func<Tensor, Tensor> half = t => t.mul(0.5);
        return half(x + y).add_(y);
    }

    private static void Same(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.eq(actual).all().item<bool>(), $"{expected.str()} != {actual.str()}");
    }

    [Fact]
    public void ArithmeticMatchesTorchSharpOperators()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { -1.5, 0.25, 2.0, 3.0 });
        var y = tensor(new[] { 0.5, -2.0, 1.0, 4.0 });
        var ids = tensor(new long[] { 3, -100, 7 });
        Same(x + y, x.Plus(y));
        Same(x + 2 * y, x.Plus(y, 2.0));
        Same(x + 0.1, x.Plus(0.1));
        Same(x - 0.1, x.Minus(0.1));
        Same(0.3 - x, x.SubtractedFrom(0.3));
        Same(x * 0.7, x.Times(0.7));
        Same(x / 0.7, x.DividedBy(0.7));
        Same(3.0 / x, x.Into(3.0));
        Same(x.pow(2), x.Power(2));
        Same(x < 0.25, x.LessThan(0.25));
        Same(x <= 0.25, x.LessOrEqual(0.25));
        Same(x > 0.25, x.GreaterThan(0.25));
        Same(x >= 0.25, x.GreaterOrEqual(0.25));
        Same(x.clamp_min(0.1), x.AtLeast(0.1));
        Same(x.clamp_max(0.1), x.AtMost(0.1));
        Same(x.masked_fill(x < 0, double.NegativeInfinity), x.MaskedFill(x.LessThan(0), double.NegativeInfinity));
        Same(ids.ne(-100), ids.NotEqual(-100));
        Same(ids.eq(-100), ids.Equal(-100));
        // Integer tensors stay integer with integer operands, as with TorchSharp's operators.
        Assert.Equal(ScalarType.Int64, ids.Minus(1).dtype);
        Assert.Equal(ScalarType.Int64, ids.AtLeast(0).dtype);
        Same(ids - 1, ids.Minus(1));
        Same(arange(2, 11, 3, dtype: ScalarType.Int64), ScalarArithmetic.Range(2, 11, 3));
        var a = x.clone(); a.add_(y, 0.5); var b = x.clone(); b.PlusInPlace(y, 0.5);
        Same(a, b);
        a = x.clone(); a.addcdiv_(x, y, -0.3); b = x.clone(); b.AddcdivInPlace(x, y, -0.3);
        Same(a, b);
        a = x.clone(); a.addcmul_(x, y, 0.3); b = x.clone(); b.AddcmulInPlace(x, y, 0.3);
        Same(a, b);
    }
}

using IftSharp.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// How a model's constructor allocates its parameters. <see cref="Initialized"/> is TorchSharp's own construction
/// (float32, randomly initialised: what a model built from scratch starts from). Loading a checkpoint or initialising
/// in place does not need that work: <see cref="Uninitialized"/> allocates each parameter once, in the dtype it will
/// keep, and leaves its contents to the caller; <see cref="Meta"/> allocates nothing at all (libtorch's meta device),
/// for a model's names, shapes and parameter count.
/// </summary>
public sealed class ParameterAllocation
{
    private enum Kind { Initialized, Uninitialized, Meta }

    private readonly Kind kind;
    private readonly ScalarType dtype;

    private ParameterAllocation(Kind kind, ScalarType dtype)
    {
        this.kind = kind;
        this.dtype = dtype;
    }

    /// <summary>float32 parameters initialised as TorchSharp's modules initialise them.</summary>
    public static ParameterAllocation Initialized { get; } = new(Kind.Initialized, ScalarType.Float32);

    /// <summary>Shapes only, on the meta device: no memory, no initialisation.</summary>
    public static ParameterAllocation Meta { get; } = new(Kind.Meta, ScalarType.Float32);

    /// <summary>CPU parameters in <paramref name="dtype"/> whose contents are undefined until the caller writes them.</summary>
    public static ParameterAllocation Uninitialized(ScalarType dtype) => new(Kind.Uninitialized, dtype);

    public bool IsMeta => kind == Kind.Meta;

    internal Linear Linear(long inputSize, long outputSize, bool hasBias)
    {
        if (kind == Kind.Initialized) return nn.Linear(inputSize, outputSize, hasBias: hasBias);
        return nn.Linear(Parameter(outputSize, inputSize), hasBias ? Parameter(outputSize) : null);
    }

    internal Embedding Embedding(long rows, long columns)
    {
        if (kind == Kind.Initialized) return nn.Embedding(rows, columns);
        // TorchSharp's Embedding is a native module that allocates and initialises its float32 table in its constructor;
        // built with one row, its weight is then replaced by the table allocated here (the one-row table is all it keeps).
        var embedding = nn.Embedding(1, columns);
        embedding.weight = Parameter(rows, columns);
        return embedding;
    }

    /// <summary>A vector parameter that starts at one (RMSNorm's scale) when initialised.</summary>
    internal Parameter Ones(long size) => kind == Kind.Initialized ? nn.Parameter(ones(size)) : Parameter(size);

    private Parameter Parameter(params long[] shape)
    {
        var data = kind == Kind.Meta ? empty(shape, dtype, new Device(DeviceType.META)) : empty(shape, dtype);
        // A model outlives any dispose scope it is built in.
        return (Parameter)new Parameter(data).DetachFromDisposeScope();
    }
}

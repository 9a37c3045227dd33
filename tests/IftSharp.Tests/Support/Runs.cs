using IftSharp.Data;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Training;

namespace IftSharp.Tests.Support;

/// <summary>
/// Trains a registered method on in-memory items through its own <see cref="ITrainingMethod.Train"/>, as library users do.
/// </summary>
public static class Runs
{
    public static IReadOnlyList<StepMetrics> Train<TItem>(string method, ICausalLM model, IReadOnlyList<TItem> data, int padId,
        TrainerOptions options, Action<StepMetrics>? onStep = null, CancellationToken cancel = default,
        IModelCheckpoint? checkpoint = null, IReadOnlyList<TItem>? evalData = null, ICausalLM? bf16Compute = null,
        ICausalLM? reference = null, bool precomputeReference = false, object? methodOptions = null)
    {
        var m = MethodRegistry.Get(method);
        var session = new TrainingSession
        {
            Model = model, ComputeCopy = bf16Compute, InitialReference = reference, PrecomputeReference = precomputeReference,
            PadId = padId, Options = options, OnStep = onStep, Cancel = cancel, Checkpoint = checkpoint, MaxLength = 64,
            Tokenizer = new IftSharp.Tokenization.ByteLevelTokenizer(), Template = new IftSharp.Tokenization.ChatMlTemplate(),
        };
        return m.Train(session, MethodData.Of(data), evalData is null ? null : MethodData.Of(evalData), methodOptions ?? m.Defaults);
    }
}

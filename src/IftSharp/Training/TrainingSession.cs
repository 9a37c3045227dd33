using IftSharp.Models;
using IftSharp.Tokenization;

namespace IftSharp.Training;

/// <summary>
/// What a method needs to train: the model (and its bfloat16 compute copy), the frozen reference when the method has
/// one, the tokenizer for methods that generate (SPIN), the loop's settings and the callbacks. <see cref="TrainingRun"/>
/// builds one from a model folder; library users and the benchmark build one from models they hold.
/// </summary>
public sealed class TrainingSession
{
    /// <summary>The weights the optimizer updates (float32 masters under bf16).</summary>
    public required ICausalLM Model { get; init; }
    /// <summary>A bfloat16 copy of <see cref="Model"/> that runs forward and backward (<c>--bf16</c>), or null.</summary>
    public ICausalLM? ComputeCopy { get; init; }
    /// <summary>The model the passes run on.</summary>
    public ICausalLM Compute => ComputeCopy ?? Model;
    /// <summary>The frozen reference model, for methods that need one (null once released).</summary>
    public ICausalLM? Reference { get; private set; }
    /// <summary>Whether the session disposes <see cref="Reference"/> when it is released.</summary>
    public bool OwnsReference { get; init; }
    /// <summary>Compute the reference's log-probs once before training, then release the reference model.</summary>
    public bool PrecomputeReference { get; init; }
    public required int PadId { get; init; }
    public ITokenizer? Tokenizer { get; init; }
    public IChatTemplate? Template { get; init; }
    /// <summary>Tokens per sequence, for sequences a method builds itself (KTO's mismatched pairs, SPIN's answers).</summary>
    public int MaxLength { get; init; } = 512;
    public required TrainerOptions Options { get; init; }
    /// <summary>How checkpoints save and restore the model's weights (null: no checkpoints).</summary>
    public IModelCheckpoint? Checkpoint { get; init; }
    public Action<StepMetrics>? OnStep { get; init; }
    /// <summary>One-line notes for the user (what is being computed, warnings).</summary>
    public Action<string>? Log { get; init; }
    public CancellationToken Cancel { get; init; }
    /// <summary>
    /// What decides the run's trajectory (<see cref="RunFingerprint"/>), recorded in its checkpoints; <c>--resume</c>
    /// refuses a checkpoint whose fingerprint differs. Null: not recorded, not checked.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Fingerprint { get; init; }

    /// <summary>Sets the reference model (frozen by the caller).</summary>
    public ICausalLM? InitialReference { init => Reference = value; }

    /// <summary>Frees the reference model once its log-probs are no longer needed (after they were precomputed).</summary>
    public void ReleaseReference()
    {
        if (OwnsReference && Reference is IDisposable d) d.Dispose();
        Reference = null;
    }
}

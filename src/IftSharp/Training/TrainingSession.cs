using IftSharp.Models;
using IftSharp.Tokenization;
using TorchSharp.Modules;

namespace IftSharp.Training;

/// <summary>
/// What a method needs to train: the model (and its bfloat16 compute copy), the frozen reference when the method has
/// one, the tokenizer for methods that generate (SPIN), the loop's settings and the callbacks. <see cref="TrainingRun"/>
/// builds one from a model folder; library users and the benchmark build one from models they hold.
/// </summary>
public sealed class TrainingSession
{
    /// <summary>
    /// The model the optimizer trains (float32 masters under bf16): all of its trainable parameters, or only its LoRA
    /// adapter's when one is attached (<see cref="TrainableParameters"/>).
    /// </summary>
    public required ICausalLM Model { get; init; }
    /// <summary>A bfloat16 copy of <see cref="Model"/> that runs forward and backward (<c>--bf16</c>), or null.</summary>
    public ICausalLM? ComputeCopy { get; init; }
    /// <summary>The model the passes run on.</summary>
    public ICausalLM Compute => ComputeCopy ?? Model;

    /// <summary>
    /// What the optimizer updates: with a LoRA adapter attached to <see cref="Model"/>, its A and B only (the base is
    /// frozen and holds no gradient or optimizer state); otherwise every parameter that requires a gradient.
    /// </summary>
    public IReadOnlyList<Parameter> TrainableParameters => Model is LlamaForCausalLM { Lora: { } lora }
        ? lora.parameters().ToList()
        : Model.parameters().Where(p => p.requires_grad).ToList();

    /// <summary>
    /// Apply the LM head this many positions at a time in every pass a method makes (policy, reference, IFT's two
    /// passes), so the [B, T, V] logits and their gradient never exist at once (<c>--logits-chunk</c>); null: whole.
    /// </summary>
    public int? LogitsChunk { get; init; }
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
    /// <summary>When the loop reached its last step: the optimizer, whose state the caller may save beside the model.</summary>
    public Action<OptimizerHelper>? OnFinished { get; init; }
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

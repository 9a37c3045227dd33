namespace IftSharp.Models;

/// <summary>One decoding step of <see cref="TokenGenerator"/>: the token each row received (-1 for rows already finished).</summary>
public sealed record GenerationStep(int Step, IReadOnlyList<int> Tokens, IReadOnlyList<bool> Finished);

/// <summary>
/// Decoding settings with Hugging Face <c>generate</c> semantics. <see cref="Temperature"/> 0 means greedy;
/// otherwise logits go through repetition penalty, temperature, top-k and top-p (in that order) before sampling.
/// </summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>0 = greedy (argmax); &gt; 0 samples from softmax(logits / temperature).</summary>
    public double Temperature { get; init; }
    /// <summary>Keep only the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of tokens whose probability reaches top_p; 1 = off.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>
    /// HF's CTRL penalty on tokens already present (prompt included): positive logits divided by it, negative multiplied; 1 = off.
    /// </summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>
    /// A row stops after producing one of these ids (which is kept in its output). Null: the model config's eos_token_id.
    /// </summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }
    /// <summary>
    /// Fills the left padding of prompts and the tail of finished rows. Null: pad_token_id, else the first EOS id, else 0.
    /// </summary>
    public int? PadTokenId { get; init; }
    /// <summary>Seeds the sampling generator; the same seed, model and prompts give the same tokens.</summary>
    public long Seed { get; init; } = 42;
    /// <summary>Whether to decode with a KV cache (only the new token each step) or re-run the whole sequence.</summary>
    public bool UseCache { get; init; } = true;
    /// <summary>
    /// With the cache, whether the steps after the prompt run IftSharp's single-token kernels (matrix-vector products
    /// that stream each weight once; float32 activations over float32 or bfloat16 weights) instead of libtorch's forward
    /// pass. The logits agree within float32 rounding; a model the kernels do not handle decodes with libtorch anyway.
    /// </summary>
    public bool FastDecode { get; init; } = true;
    /// <summary>Called with a row's new tokens after each step; true stops that row (e.g. a decoded stop string).</summary>
    public Func<IReadOnlyList<int>, bool>? ShouldStop { get; init; }
    /// <summary>Called after every step, for streaming.</summary>
    public Action<GenerationStep>? OnStep { get; init; }
}

/// <summary>The new tokens of each row (no prompt, no padding) and why each row stopped.</summary>
public sealed record GenerationResult(IReadOnlyList<IReadOnlyList<int>> Tokens, IReadOnlyList<StopReason> StopReasons);

public enum StopReason { MaxNewTokens, Eos, StopHook }

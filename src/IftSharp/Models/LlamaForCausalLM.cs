using IftSharp.Core;
using IftSharp.Models.Lora;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// A decoder-only transformer of the Llama family (Llama 2/3, Mistral, Qwen2, Qwen3) with Hugging Face's
/// parameter names, so its state dict reads and writes HF safetensors checkpoints unchanged. Tied
/// embeddings compute logits against <c>model.embed_tokens.weight</c> itself; <c>lm_head</c> then does not exist.
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>, ICausalLM
{
    private readonly DecoderBackbone model;
    private readonly Linear? lm_head;
    private readonly RotaryEmbedding rotary;

    /// <summary>A model with TorchSharp's float32 random initialisation (see <see cref="ModelFactory"/> for Hugging Face's).</summary>
    public LlamaForCausalLM(DecoderConfig config) : this(config, ParameterAllocation.Initialized) { }

    /// <summary>
    /// A model whose parameters are allocated as <paramref name="allocation"/> says: <see cref="ParameterAllocation.Meta"/>
    /// for names, shapes and sizes without memory, <see cref="ParameterAllocation.Uninitialized"/> when a checkpoint or an
    /// initialiser will write every parameter.
    /// </summary>
    public LlamaForCausalLM(DecoderConfig config, ParameterAllocation allocation) : base(nameof(LlamaForCausalLM))
    {
        config.Validate();
        Config = config;
        model = new DecoderBackbone(config, allocation);
        register_module("model", model);
        if (!config.TieWordEmbeddings)
        {
            lm_head = allocation.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
            register_module("lm_head", lm_head);
        }
        rotary = new RotaryEmbedding(config);
    }

    public DecoderConfig Config { get; }
    public Embedding EmbedTokens => model.EmbedTokens;
    public DecoderBackbone Backbone => model;
    /// <summary>The output projection, or null when tied to the embedding.</summary>
    public Linear? LmHead => lm_head;
    /// <summary>The rotary position embedding (its frequencies change between calls under dynamic scaling).</summary>
    public RotaryEmbedding Rotary => rotary;
    /// <summary>
    /// The dtype of the parameters (of the layers: a bf16 compute copy keeps its embedding in float32, see
    /// <see cref="Training.Bf16Shadow"/>).
    /// </summary>
    public ScalarType Dtype => model.Norm.Weight.dtype;
    public Device Device => model.EmbedTokens.weight!.device;

    /// <summary>
    /// Reads <c>config.json</c> and the safetensors weights (single file or sharded) of a Hugging Face model folder into
    /// a model whose parameters are <paramref name="dtype"/> (bfloat16 for a frozen base, say). Loading costs the model's
    /// size in that dtype once: the weight files are found and their headers checked against the config (every
    /// parameter present with its shape and a float dtype) before anything is allocated, then each parameter is
    /// allocated once, uninitialised, and filled straight from the file.
    /// </summary>
    public static LlamaForCausalLM FromPretrained(string directory, ScalarType dtype = ScalarType.Float32)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float64))
            throw new ArgumentException($"a model's dtype must be a float type, got {dtype}", nameof(dtype));
        var config = DecoderConfig.Load(Path.Combine(directory, "config.json"));
        using var checkpoint = SafetensorsCheckpointReader.Open(directory);
        using (var shape = new LlamaForCausalLM(config, ParameterAllocation.Meta))
            checkpoint.CheckCovers(shape, TiedHeadKeys(config));
        var lm = new LlamaForCausalLM(config, ParameterAllocation.Uninitialized(dtype));
        try { checkpoint.ReadInto(lm); }
        catch { lm.Dispose(); throw; }
        return lm;
    }

    /// <summary>A model with this config on the meta device: its parameter names, shapes and count, no memory.</summary>
    public static LlamaForCausalLM CreateOnMeta(DecoderConfig config) => new(config, ParameterAllocation.Meta);

    /// <summary>The number of parameters a model of <paramref name="config"/> has (a tied head counted once), without allocating
    /// it.</summary>
    public static long ParameterCount(DecoderConfig config)
    {
        using var shape = CreateOnMeta(config);
        return shape.parameters().Sum(p => p.numel());
    }

    // A tied model has no lm_head; checkpoints that store a copy of it anyway (Qwen3-0.6B's does) load as in transformers.
    private static string[] TiedHeadKeys(DecoderConfig config) => config.TieWordEmbeddings ? ["lm_head.weight"] : [];

    /// <summary>
    /// Writes <c>config.json</c> and <c>model.safetensors</c> (or shards plus <c>model.safetensors.index.json</c>
    /// when the weights exceed <paramref name="maxShardBytes"/>) into <paramref name="directory"/>, each through a temporary file.
    /// </summary>
    public void SavePretrained(string directory, long maxShardBytes = SafetensorsCheckpoint.DefaultMaxShardBytes)
    {
        Directory.CreateDirectory(directory);
        var dtypeName = Dtype switch
        {
            ScalarType.BFloat16 => "bfloat16",
            ScalarType.Float16 => "float16",
            ScalarType.Float64 => "float64",
            _ => "float32",
        };
        var config = Config with { TorchDtype = dtypeName, Dtype = Config.Dtype is null ? null : dtypeName };
        if (config.Architectures is null)
        {
            var architecture = config.ModelType switch
            {
                "mistral" => "MistralForCausalLM",
                "qwen2" => "Qwen2ForCausalLM",
                "qwen3" => "Qwen3ForCausalLM",
                _ => "LlamaForCausalLM",
            };
            config = config with { Architectures = [architecture] };
        }
        SafetensorsCheckpoint.Save(this, directory, maxShardBytes);
        config.Save(Path.Combine(directory, "config.json"));
    }

    public override Tensor forward(Tensor inputIds) => Forward(inputIds, null, null, null);

    /// <summary>Logits [B, T, V] from token ids [B, T]; <paramref name="attentionMask"/> is [B, T] (1 real, 0 padding).</summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null) => Forward(inputIds, attentionMask, null, null);

    /// <summary>
    /// Logits [B, T, V] for token ids [B, T]. With a <paramref name="cache"/>, the ids are the positions after the cached
    /// ones and <paramref name="attentionMask"/> covers cached and new positions, [B, past + T].
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, Tensor? positionIds, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var embeds = model.EmbedTokens.forward(inputIds);
        return ForwardEmbeddings(embeds, attentionMask, positionIds, cache).MoveToOuterDisposeScope();
    }

    public Tensor ForwardEmbeddings(Tensor inputsEmbeds, Tensor? attentionMask = null) =>
        ForwardEmbeddings(inputsEmbeds, attentionMask, null, null);

    /// <summary>
    /// Logits [B, T, V] from input embeddings [B, T, H]; the arguments as in
    /// <see cref="ForwardHidden(Tensor, Tensor?, Tensor?, KvCache?)"/>.
    /// </summary>
    public Tensor ForwardEmbeddings(Tensor inputsEmbeds, Tensor? attentionMask, Tensor? positionIds, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        return Head(ForwardHidden(inputsEmbeds, attentionMask, positionIds, cache)).MoveToOuterDisposeScope();
    }

    public Tensor ForwardHidden(Tensor inputsEmbeds, Tensor? attentionMask = null) =>
        ForwardHidden(inputsEmbeds, attentionMask, null, null);

    /// <summary>
    /// The final hidden states [B, T, H] (final norm applied) from input embeddings [B, T, H]. Position ids default, as
    /// Hugging Face's generation does, to the count of real tokens before each position (so left padding does not shift
    /// positions), or to <c>past .. past + T - 1</c> without a mask.
    /// </summary>
    public Tensor ForwardHidden(Tensor inputsEmbeds, Tensor? attentionMask, Tensor? positionIds, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        long past = cache?.Length ?? 0;
        var device = inputsEmbeds.device;
        if (attentionMask is not null
            && (attentionMask.shape.Length != 2 || attentionMask.shape[0] != b || attentionMask.shape[1] != past + t))
        {
            throw new ArgumentException(
                $"attention mask must be [{b}, {past + t}] (cached + new positions), got [{string.Join(", ", attentionMask.shape)}]",
                nameof(attentionMask));
        }
        if (cache is not null && cache.BatchSize != b)
            throw new ArgumentException($"KV cache holds {cache.BatchSize} rows, input has {b}", nameof(cache));

        bool padded = attentionMask is not null && !attentionMask.all().item<bool>();
        var keyMask = padded ? attentionMask!.to(@bool) : null;
        if (positionIds is null)
        {
            if (keyMask is not null)
            {
                var counted = keyMask.to(int64).cumsum(-1).Minus(1);
                positionIds = counted.MaskedFill(keyMask.logical_not(), 1).narrow(1, past, t);
            }
            else positionIds = ScalarArithmetic.Range(past, past + t, device: device).unsqueeze(0).expand(b, t);
        }

        Tensor? mask = null;
        bool causal = past == 0 && t > 1;
        if (padded || (past > 0 && t > 1))
        {
            var keyPositions = ScalarArithmetic.Range(0, past + t, device: device);
            var queryPositions = ScalarArithmetic.Range(past, past + t, device: device).unsqueeze(1);
            var allowed = keyPositions.unsqueeze(0) <= queryPositions; // [T, S]
            var diagonal = keyPositions.unsqueeze(0) == queryPositions;
            if (keyMask is not null)
                // A padded query row would otherwise see no key at all and SDPA would return NaN; let it see itself.
                allowed = allowed.unsqueeze(0).logical_and(keyMask.unsqueeze(1)).logical_or(diagonal.unsqueeze(0)); // [B, T, S]
            else
                allowed = allowed.unsqueeze(0).expand(b, t, past + t);
            mask = allowed.unsqueeze(1);
            causal = false;
        }

        if (inputsEmbeds.dtype != Dtype) inputsEmbeds = inputsEmbeds.to(Dtype); // float32 embeddings into bf16 layers
        var (cos, sin) = rotary.CosSin(positionIds, inputsEmbeds.dtype);
        var h = inputsEmbeds;
        // Checkpointing only pays where a backward pass will follow: not under no_grad, not while decoding with a cache.
        bool checkpoint = GradientCheckpointing && cache is null && is_grad_enabled();
        foreach (var layer in model.Layers)
        {
            h = checkpoint ? ActivationCheckpoint.DecoderLayer(layer, h, cos, sin, mask, causal)
                : layer.Forward(h, cos, sin, mask, causal, cache);
        }
        cache?.Advance(t);
        return model.Norm.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>Logits [..., V] of final hidden states [..., H].</summary>
    public Tensor Head(Tensor hidden)
    {
        if (lm_head is not null) return lm_head.forward(hidden);
        using var scope = NewDisposeScope();
        var embedding = model.EmbedTokens.weight!; // a bf16 compute copy's tied head reads its float32 embedding in bf16
        var weight = embedding.dtype == hidden.dtype ? embedding : embedding.to(hidden.dtype);
        return nn.functional.linear(hidden, weight).MoveToOuterDisposeScope();
    }

    /// <summary>The head's weight [V, H]: <c>lm_head.weight</c>, or <c>model.embed_tokens.weight</c> when tied.</summary>
    public Tensor HeadWeight => lm_head?.weight ?? model.EmbedTokens.weight!;

    /// <summary>
    /// Recompute each decoder layer's forward pass during backward instead of keeping its activations (only the
    /// layer's input is kept): activation memory falls from every layer's intermediates to one hidden state per layer,
    /// for about one more forward pass of compute. Applies to passes with gradient and without a KV cache.
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>The LoRA adapter attached to this model's projections (see <see cref="LoraAdapter.Inject"/>), or null.</summary>
    public LoraAdapter? Lora { get; internal set; }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Lora?.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>A KV cache shaped for this model, in its dtype and device.</summary>
    public KvCache CreateCache(long batchSize, long maxLength) => new(Config, batchSize, maxLength, Dtype, Device);
}

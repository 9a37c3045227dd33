using System.Text.Json;
using System.Text.Json.Serialization;
using IftSharp.Core;

namespace IftSharp.Models;

/// <summary>
/// The RoPE frequency scaling of a Hugging Face <c>config.json</c> (<c>rope_scaling</c>): <c>llama3</c>
/// (Llama 3.1+), <c>linear</c> (position interpolation), <c>dynamic</c> (dynamic NTK), <c>yarn</c>, or <c>default</c>.
/// Keys it does not model are kept, so saving writes them back.
/// </summary>
public sealed record RopeScaling
{
    public static readonly string[] SupportedKinds = ["default", "linear", "llama3", "dynamic", "yarn"];

    [JsonPropertyName("rope_type")] public string? RopeType { get; init; }
    /// <summary>Older configs spell <c>rope_type</c> as <c>type</c>.</summary>
    [JsonPropertyName("type")] public string? LegacyType { get; init; }
    [JsonPropertyName("factor")] public double? Factor { get; init; }
    [JsonPropertyName("low_freq_factor")] public double? LowFreqFactor { get; init; }
    [JsonPropertyName("high_freq_factor")] public double? HighFreqFactor { get; init; }
    [JsonPropertyName("original_max_position_embeddings")] public int? OriginalMaxPositionEmbeddings { get; init; }
    /// <summary>YaRN: the cos/sin multiplier; when absent it follows from <c>factor</c> (and <c>mscale</c>,
    /// <c>mscale_all_dim</c>).</summary>
    [JsonPropertyName("attention_factor")] public double? AttentionFactor { get; init; }
    [JsonPropertyName("beta_fast")] public double? BetaFast { get; init; }
    [JsonPropertyName("beta_slow")] public double? BetaSlow { get; init; }
    [JsonPropertyName("mscale")] public double? Mscale { get; init; }
    [JsonPropertyName("mscale_all_dim")] public double? MscaleAllDim { get; init; }
    /// <summary>YaRN: whether the correction range is rounded to whole dimensions (transformers' default true).</summary>
    [JsonPropertyName("truncate")] public bool? Truncate { get; init; }
    /// <summary>Only in transformers 5's <c>rope_parameters</c>, which carries the base there.</summary>
    [JsonPropertyName("rope_theta")] public double? RopeTheta { get; init; }

    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    [JsonIgnore] public string Kind => RopeType ?? LegacyType ?? "default";
}

/// <summary>
/// A decoder-only transformer's architecture as Hugging Face writes it in <c>config.json</c>
/// (Llama, Mistral, Qwen2, Qwen3). Unknown JSON fields are kept so saving writes them back.
/// </summary>
public sealed record DecoderConfig
{
    public static readonly string[] SupportedModelTypes = ["llama", "mistral", "qwen2", "qwen3"];

    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    /// <summary>Null means as many as attention heads (no grouped-query attention).</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    /// <summary>Null means <c>hidden_size / num_attention_heads</c>.</summary>
    [JsonPropertyName("head_dim")] public int? HeadDimension { get; init; }
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    /// <summary>transformers 5 writes <c>rope_theta</c> and the scaling together here; <see cref="Parse"/> reads them from it.</summary>
    [JsonPropertyName("rope_parameters")] public RopeScaling? RopeParameters { get; init; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    /// <summary>Llama/Mistral: bias on q, k, v and o. Qwen2 ignores it (bias on q, k, v only).</summary>
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("mlp_bias")] public bool MlpBias { get; init; }
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    /// <summary>One id or a list (Llama 3 Instruct lists several).</summary>
    [JsonPropertyName("eos_token_id"), JsonConverter(typeof(IntOrListConverter))] public int[]? EosTokenId { get; init; }
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }
    /// <summary>Newer transformers write <c>dtype</c> instead of <c>torch_dtype</c>.</summary>
    [JsonPropertyName("dtype")] public string? Dtype { get; init; }
    /// <summary>
    /// Mistral: every layer attends to the last <c>sliding_window</c> positions. Qwen2/Qwen3: only with
    /// <see cref="UseSlidingWindow"/>, and only in the layers <see cref="LayerTypes"/> (or <see cref="MaxWindowLayers"/>) name.
    /// </summary>
    [JsonPropertyName("sliding_window")] public int? SlidingWindow { get; init; }
    [JsonPropertyName("use_sliding_window")] public bool? UseSlidingWindow { get; init; }
    /// <summary>Qwen2/Qwen3: layers from this index on use the window (transformers' default 28).</summary>
    [JsonPropertyName("max_window_layers")] public int? MaxWindowLayers { get; init; }
    /// <summary>Per layer <c>full_attention</c> or <c>sliding_attention</c> (newer Qwen configs write it out).</summary>
    [JsonPropertyName("layer_types")] public string[]? LayerTypes { get; init; }

    /// <summary>Fields this class does not model, written back unchanged.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;
    [JsonIgnore] public int HeadDim => HeadDimension ?? HiddenSize / NumAttentionHeads;
    [JsonIgnore] public bool QkvBias => ModelType == "qwen2" || AttentionBias;
    [JsonIgnore] public bool OutputBias => ModelType != "qwen2" && AttentionBias;
    [JsonIgnore] public bool QkNorm => ModelType == "qwen3";
    [JsonIgnore] public IReadOnlyList<int> EosTokenIds => EosTokenId ?? [];
    [JsonIgnore] public string? DeclaredDtype => Dtype ?? TorchDtype;

    /// <summary>
    /// The attention window of layer <paramref name="layer"/>, or null for full causal attention, as transformers
    /// decides it: Mistral's <c>sliding_window</c> in every layer; Qwen2/Qwen3's only when <c>use_sliding_window</c> is
    /// true, in the layers <c>layer_types</c> marks <c>sliding_attention</c> (by default those from
    /// <c>max_window_layers</c> on); Llama has none.
    /// </summary>
    public int? SlidingWindowOf(int layer)
    {
        switch (ModelType)
        {
            case "mistral":
                return SlidingWindow;
            case "qwen2" or "qwen3":
                if (UseSlidingWindow != true || SlidingWindow is null) return null;
                bool windowed = LayerTypes is { } types ? types[layer] == "sliding_attention" : layer >= (MaxWindowLayers ?? 28);
                return windowed ? SlidingWindow : null;
            default:
                return null;
        }
    }

    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Reads and validates a config.json; problems become <see cref="InputException"/> naming the field.</summary>
    public static DecoderConfig Load(string path)
    {
        if (!File.Exists(path)) throw new InputException($"{path}: model config not found");
        return Parse(File.ReadAllText(path), path);
    }

    public static DecoderConfig Parse(string json, string source = "config.json")
    {
        DecoderConfig? config;
        try { config = JsonSerializer.Deserialize<DecoderConfig>(json); }
        catch (JsonException e)
        {
            var field = e.Path is { } p ? p.TrimStart('$', '.') : null;
            throw InputException.At(source, (int?)e.LineNumber + 1, field, $"not valid here: {e.Message}");
        }
        if (config is null) throw InputException.At(source, null, null, "empty config");
        config = config.WithRopeParameters(source);
        config.Validate(source);
        return config;
    }

    /// <summary>
    /// A config that transformers 5 wrote keeps RoPE's base and scaling in <c>rope_parameters</c> (its own
    /// <c>rope_theta</c> is gone): they become <see cref="RopeTheta"/> and <see cref="RopeScaling"/>, so the model uses
    /// them and a saved config carries both spellings. One set per layer type is refused.
    /// </summary>
    internal DecoderConfig WithRopeParameters(string source)
    {
        if (RopeParameters is not { } parameters) return this;
        if (parameters.Extra?.Keys.Any(k => k is "full_attention" or "sliding_attention") == true)
            throw InputException.At(source, null, "rope_parameters", "one set of RoPE parameters per layer type is not supported");
        return this with
        {
            RopeTheta = parameters.RopeTheta ?? RopeTheta,
            RopeScaling = RopeScaling ?? (parameters.Kind == "default" ? null : parameters with { RopeTheta = null }),
        };
    }

    /// <summary>Throws <see cref="InputException"/> naming the first field this implementation cannot run.</summary>
    public void Validate(string source = "config.json")
    {
        if (!SupportedModelTypes.Contains(ModelType))
            throw InputException.At(source, null, "model_type",
                $"'{ModelType}' is not supported; expected one of {string.Join(", ", SupportedModelTypes)}");
        if (HiddenAct != "silu")
            throw InputException.At(source, null, "hidden_act", $"'{HiddenAct}' is not supported; expected 'silu'");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(VocabSize, "vocab_size");
        Positive(KeyValueHeads, "num_key_value_heads");
        if (NumAttentionHeads % KeyValueHeads != 0)
            throw InputException.At(source, null, "num_key_value_heads",
                $"{KeyValueHeads} does not divide num_attention_heads {NumAttentionHeads}");
        if (HeadDimension is null && HiddenSize % NumAttentionHeads != 0)
            throw InputException.At(source, null, "num_attention_heads",
                $"{NumAttentionHeads} does not divide hidden_size {HiddenSize} (set head_dim)");
        if (HeadDim % 2 != 0) throw InputException.At(source, null, "head_dim", $"{HeadDim} must be even for rotary embeddings");
        if (RmsNormEps <= 0) throw InputException.At(source, null, "rms_norm_eps", "must be positive");
        if (RopeTheta <= 0) throw InputException.At(source, null, "rope_theta", "must be positive");
        if (Extra?.TryGetValue("partial_rotary_factor", out var partial) == true
            && !(partial.ValueKind == JsonValueKind.Number && partial.GetDouble() == 1.0))
            throw InputException.At(source, null, "partial_rotary_factor",
                $"{partial} is not supported; only 1 (rotary embedding over the whole head)");
        if (LayerTypes is { } layerTypes)
        {
            if (layerTypes.Length != NumHiddenLayers)
                throw InputException.At(source, null, "layer_types",
                    $"lists {layerTypes.Length} layers, num_hidden_layers is {NumHiddenLayers}");
            foreach (var type in layerTypes)
                if (type is not ("full_attention" or "sliding_attention"))
                    throw InputException.At(source, null, "layer_types",
                        $"'{type}' is not supported; expected full_attention or sliding_attention");
        }
        for (int layer = 0; layer < NumHiddenLayers; layer++)
            if (SlidingWindowOf(layer) is <= 0)
                throw InputException.At(source, null, "sliding_window", $"must be a positive number of positions, got {SlidingWindow}");
        if (RopeScaling is { } s)
        {
            switch (s.Kind)
            {
                case "default": break;
                case "linear":
                    if (s.Factor is not > 0) throw InputException.At(source, null, "rope_scaling.factor",
                        "linear scaling needs a positive factor");
                    break;
                case "dynamic":
                    if (s.Factor is not > 0) throw InputException.At(source, null, "rope_scaling.factor",
                        "dynamic scaling needs a positive factor");
                    if (HeadDim <= 2) throw InputException.At(source, null, "head_dim", "dynamic scaling needs a head dimension above 2");
                    break;
                case "yarn":
                    if (s.Factor is not > 0) throw InputException.At(source, null, "rope_scaling.factor",
                        "yarn scaling needs a positive factor");
                    if (s.OriginalMaxPositionEmbeddings is <= 0)
                        throw InputException.At(source, null, "rope_scaling.original_max_position_embeddings", "must be positive");
                    if (s.AttentionFactor is < 0) throw InputException.At(source, null, "rope_scaling.attention_factor",
                        "must not be negative");
                    break;
                case "llama3":
                    if (s.Factor is not > 0) throw InputException.At(source, null, "rope_scaling.factor",
                        "llama3 scaling needs a positive factor");
                    if (s.LowFreqFactor is null) throw InputException.At(source, null, "rope_scaling.low_freq_factor",
                        "llama3 scaling needs it");
                    if (s.HighFreqFactor is null) throw InputException.At(source, null, "rope_scaling.high_freq_factor",
                        "llama3 scaling needs it");
                    if (s.OriginalMaxPositionEmbeddings is not > 0)
                        throw InputException.At(source, null, "rope_scaling.original_max_position_embeddings", "llama3 scaling needs it");
                    if (s.HighFreqFactor == s.LowFreqFactor) throw InputException.At(source, null, "rope_scaling.high_freq_factor",
                        "must differ from low_freq_factor");
                    break;
                default:
                    throw InputException.At(source, null, "rope_scaling.rope_type",
                        $"'{s.Kind}' is not supported; expected one of {string.Join(", ", RopeScaling.SupportedKinds)}");
            }
        }
        void Positive(int value, string field)
        {
            if (value <= 0) throw InputException.At(source, null, field, $"must be a positive integer, got {value}");
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, WriteOptions);

    /// <summary>Writes config.json through a temporary file so a crash never leaves half a file.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    private sealed class IntOrListConverter : JsonConverter<int[]?>
    {
        public override int[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Null) return null;
            if (reader.TokenType == JsonTokenType.Number) return [reader.GetInt32()];
            if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("expected an integer or a list of integers");
            var ids = new List<int>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number) throw new JsonException("expected an integer or a list of integers");
                ids.Add(reader.GetInt32());
            }
            return ids.ToArray();
        }

        public override void Write(Utf8JsonWriter writer, int[]? value, JsonSerializerOptions options)
        {
            if (value is null) { writer.WriteNullValue(); return; }
            if (value.Length == 1) { writer.WriteNumberValue(value[0]); return; }
            writer.WriteStartArray();
            foreach (var id in value) writer.WriteNumberValue(id);
            writer.WriteEndArray();
        }
    }
}

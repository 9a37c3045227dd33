using System.Text.Json;
using IftSharp.Core;

namespace IftSharp.Tokenization;

/// <summary>
/// What Python <c>transformers</c> takes from <c>tokenizer_config.json</c> when it wraps a <c>tokenizer.json</c>
/// (its fast tokenizers): the special-token names, <c>add_bos_token</c> / <c>add_eos_token</c>,
/// <c>clean_up_tokenization_spaces</c> (off unless set), the flags of <c>added_tokens_decoder</c> entries, and the
/// class, whose Llama and Gemma tokenizers (LlamaTokenizerFast, GemmaTokenizerFast, CodeLlamaTokenizerFast) always
/// rebuild the post-processor as [BOS] $A [EOS] from add_bos_token (default true) and add_eos_token (default false).
/// Any other class (PreTrainedTokenizerFast, Qwen2TokenizerFast, ...) keeps the file's post-processor, whatever the
/// flags say. This is transformers 4.x, whose LlamaTokenizerFast the reference encoder's differences are measured
/// against (transformers 5 rebuilds Llama tokenizers' whole pipeline instead). <c>legacy</c> changes nothing
/// here: transformers applies it only when converting a SentencePiece model, which a tokenizer.json is not (the
/// reference encoder transformers.js swaps the normaliser for Metaspace when legacy is false; IftSharp follows
/// Python). A Llama config with <c>add_prefix_space</c> makes transformers reconvert tokenizer.model, so it is refused.
/// </summary>
internal sealed class TransformersTokenizerConfig
{
    public string? BosToken { get; private init; }
    public string? EosToken { get; private init; }

    /// <summary>
    /// The class's own default names (LlamaTokenizerFast: &lt;s&gt;, &lt;/s&gt;; GemmaTokenizerFast: &lt;bos&gt;, &lt;eos&gt;), used
    /// when the config names none.
    /// </summary>
    public string? DefaultBosToken { get; private init; }
    public string? DefaultEosToken { get; private init; }
    public bool AddPrefixSpace { get; private init; }
    public string? PadToken { get; private init; }
    public string? TokenizerClass { get; private init; }
    public bool? AddBosToken { get; private init; }
    public bool? AddEosToken { get; private init; }
    public bool CleanUpTokenizationSpaces { get; private init; }
    public IReadOnlyList<AddedToken> AddedTokensDecoder { get; private init; } = [];

    public static readonly TransformersTokenizerConfig Empty = new();

    /// <summary>
    /// Whether the class is one whose transformers fast tokenizer rebuilds the post-processor from add_bos_token / add_eos_token.
    /// </summary>
    public bool RebuildsPostProcessor => TokenizerClass is "LlamaTokenizer" or "GemmaTokenizer" or "CodeLlamaTokenizer";

    public bool AddsBos => AddBosToken ?? true;
    public bool AddsEos => AddEosToken ?? false;

    public static TransformersTokenizerConfig Read(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new InputException($"{path}: expected a JSON object");
        bool? Flag(string name) => root.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => null,
            _ => throw InputException.At(path, null, name, "expected true or false"),
        } : null;
        string? Token(string name) => root.TryGetProperty(name, out var v)
            ? v.ValueKind == JsonValueKind.String ? v.GetString()
              : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var cv) && cv.ValueKind == JsonValueKind.String
                  ? cv.GetString()
              : v.ValueKind == JsonValueKind.Null ? null : throw InputException.At(path, null, name,
                  "expected a token string or {\"content\": ...}")
            : null;
        var tokenizerClass = root.TryGetProperty("tokenizer_class", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()
            : null;
        if (tokenizerClass is not null && tokenizerClass.EndsWith("Fast", StringComparison.Ordinal)) tokenizerClass = tokenizerClass[..^4];
        if (tokenizerClass is "LlamaTokenizer" or "CodeLlamaTokenizer" && Flag("add_prefix_space") is not null)
            throw InputException.At(path, null, "add_prefix_space",
                "transformers then rebuilds the tokenizer from tokenizer.model (SentencePiece), which is not supported; remove the field");
        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
            foreach (var entry in decoder.EnumerateObject())
            {
                var t = entry.Value;
                bool F(string name) => t.TryGetProperty(name, out var f) && f.ValueKind == JsonValueKind.True;
                if (!int.TryParse(entry.Name, out var id) || !t.TryGetProperty("content", out var content)
                    || content.ValueKind != JsonValueKind.String)
                    throw InputException.At(path, null, $"added_tokens_decoder.{entry.Name}", "expected an id and {\"content\": ...}");
                added.Add(new AddedToken(id, content.GetString()!, F("special"), F("single_word"), F("lstrip"), F("rstrip"),
                    F("normalized")));
            }
        return new TransformersTokenizerConfig
        {
            BosToken = Token("bos_token"),
            EosToken = Token("eos_token"),
            DefaultBosToken = root.TryGetProperty("bos_token", out _) ? null : DefaultToken(tokenizerClass, "bos"),
            DefaultEosToken = root.TryGetProperty("eos_token", out _) ? null : DefaultToken(tokenizerClass, "eos"),
            AddPrefixSpace = Flag("add_prefix_space") ?? false,
            PadToken = Token("pad_token"),
            TokenizerClass = tokenizerClass,
            AddBosToken = Flag("add_bos_token"),
            AddEosToken = Flag("add_eos_token"),
            CleanUpTokenizationSpaces = Flag("clean_up_tokenization_spaces") ?? false,
            AddedTokensDecoder = added,
        };
    }

    private static string? DefaultToken(string? tokenizerClass, string kind) => (tokenizerClass, kind) switch
    {
        ("LlamaTokenizer" or "CodeLlamaTokenizer", "bos") => "<s>",
        ("LlamaTokenizer" or "CodeLlamaTokenizer", "eos") => "</s>",
        ("GemmaTokenizer", "bos") => "<bos>",
        ("GemmaTokenizer", "eos") => "<eos>",
        _ => null,
    };

    /// <summary>transformers' clean-up of decoded text: no space before . ? ! , and English contractions.</summary>
    public static string CleanUp(string text) => text
        .Replace(" .", ".", StringComparison.Ordinal).Replace(" ?", "?", StringComparison.Ordinal)
        .Replace(" !", "!", StringComparison.Ordinal).Replace(" ,", ",", StringComparison.Ordinal)
        .Replace(" ' ", "'", StringComparison.Ordinal).Replace(" n't", "n't", StringComparison.Ordinal)
        .Replace(" 'm", "'m", StringComparison.Ordinal).Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal).Replace(" 're", "'re", StringComparison.Ordinal);
}

using System.IO.Compression;
using System.Text;
using System.Text.Json;
using IftSharp.Core;
using static IftSharp.Tokenization.TokenizerJsonFields;

namespace IftSharp.Tokenization;

/// <summary>
/// A BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> (byte-level ones such as Qwen, Llama-3, DeepSeek-V3,
/// gpt-oss, GPT-2, and SentencePiece-style ones with byte fallback such as Llama-2, Mistral, Gemma), encoding as
/// <c>tokenizers</c> does and wrapped as Python <c>transformers</c> wraps it (<see cref="TransformersTokenizerConfig"/>):
/// added tokens matched in the raw text, the normaliser on each stretch between them, normalised added tokens, the
/// pre-tokenizer, the BPE model per piece (<see cref="BpeModel"/>), the post-processor's special tokens; decoding
/// through the decoder steps. Every id carries the span of the caller's text it came from, which completion-only
/// loss masks need (an id made only of inserted characters, such as a lone "▁", has an empty span where it was
/// inserted). Written by hand rather than on Microsoft.ML.Tokenizers: see the README's tokenizer section.
/// </summary>
public sealed class BpeTokenizer : ITokenizer
{
    private readonly Dictionary<string, int> modelVocab;
    private readonly string?[] modelTokens; // by id
    private readonly Dictionary<string, AddedToken> addedByContent;
    private readonly Dictionary<int, AddedToken> addedById;
    private readonly HashSet<string> specialContents;
    private readonly BpeModel model;
    private readonly TextNormalizer? normalizer;
    private readonly PreTokenizer? preTokenizer;
    private readonly TokenDecoder? decoder;
    private readonly AddedTokenMatcher rawAdded, normalizedAdded;
    private readonly int[] prefixIds, suffixIds;
    private readonly bool cleanUpTokenizationSpaces;

    public int VocabSize { get; }
    public int? BosTokenId => BosToken is null ? null : TokenToId(BosToken);
    public int? EosTokenId => EosToken is null ? null : TokenToId(EosToken);
    public int? PadTokenId => PadToken is null ? null : TokenToId(PadToken);
    public string? BosToken { get; }
    public string? EosToken { get; }
    public string? PadToken { get; }

    private BpeTokenizer(string path, JsonElement root, string? configPath, TransformersTokenizerConfig config)
    {
        var modelJson = Required(root, "model", path, "tokenizer").ValueKind == JsonValueKind.Object ? root.GetProperty("model")
            : throw InputException.At(path, null, "model", "expected an object");
        // Files from old tokenizers versions omit the type; tokenizers then recognises a BPE model by its merges.
        var type = IsAbsent(modelJson, "type") && !IsAbsent(modelJson, "merges") ? "BPE" : TypeOf(modelJson);
        if (type != "BPE") throw InputException.At(path, null, "model.type", $"'{type}' is not supported; expected 'BPE'");
        if (!IsAbsent(modelJson, "dropout") && modelJson.GetProperty("dropout").ValueKind == JsonValueKind.Number
            && modelJson.GetProperty("dropout").GetDouble() > 0)
            throw InputException.At(path, null, "model.dropout", "BPE dropout is not supported; expected null");

        var vocabField = Required(modelJson, "vocab", path, "model");
        if (vocabField.ValueKind != JsonValueKind.Object)
            throw InputException.At(path, null, "model.vocab", "expected an object of token -> id");
        modelVocab = new Dictionary<string, int>(vocabField.GetPropertyCount());
        foreach (var p in vocabField.EnumerateObject()) modelVocab[p.Name] = p.Value.GetInt32();
        var prefix = IsAbsent(modelJson, "continuing_subword_prefix") ? null
            : String(modelJson, "continuing_subword_prefix", path, "model");
        var suffix = IsAbsent(modelJson, "end_of_word_suffix") ? null : String(modelJson, "end_of_word_suffix", path, "model");
        var merges = ReadMerges(modelJson, path, prefix?.Length ?? 0);
        int? unkId = null;
        if (!IsAbsent(modelJson, "unk_token"))
        {
            var unk = String(modelJson, "unk_token", path, "model");
            unkId = modelVocab.TryGetValue(unk, out var u) ? u : throw InputException.At(path, null, "model.unk_token",
                $"'{unk}' is not in the vocabulary");
        }
        model = new BpeModel(modelVocab, merges, unkId, Bool(modelJson, "fuse_unk", path, "model", false),
            Bool(modelJson, "byte_fallback", path, "model", false), Bool(modelJson, "ignore_merges", path, "model", false), prefix, suffix);

        var added = ReadAddedTokens(root, path);
        var positionOfId = new Dictionary<int, int>(added.Count);
        for (int i = 0; i < added.Count; i++) positionOfId[added[i].Id] = i;
        foreach (var fromConfig in config.AddedTokensDecoder)
        {
            // transformers re-adds an added_tokens_decoder entry that differs from the file's, which updates its flags.
            if (!positionOfId.TryGetValue(fromConfig.Id, out var at)) added.Add(fromConfig);
            else if (added[at].Content == fromConfig.Content) added[at] = fromConfig;
        }
        addedByContent = added.GroupBy(a => a.Content).ToDictionary(g => g.Key, g => g.Last());
        addedById = added.GroupBy(a => a.Id).ToDictionary(g => g.Key, g => g.Last());
        specialContents = added.Where(a => a.Special).Select(a => a.Content).ToHashSet();

        normalizer = root.TryGetProperty("normalizer", out var n) ? TextNormalizer.Parse(n, path) : null;
        preTokenizer = root.TryGetProperty("pre_tokenizer", out var pt) ? PreTokenizer.Parse(pt, path) : null;
        // transformers sets a top-level ByteLevel pre-tokenizer's add_prefix_space from the config (false when unset).
        if (configPath is not null && preTokenizer is ByteLevelPreTokenizer byteLevel && byteLevel.AddPrefixSpace != config.AddPrefixSpace)
            preTokenizer = byteLevel.WithPrefixSpace(config.AddPrefixSpace);
        decoder = root.TryGetProperty("decoder", out var d) ? TokenDecoder.Parse(d, path) : null;
        rawAdded = new AddedTokenMatcher(addedByContent.Values.Where(a => !a.Normalized));
        // A normalised added token is looked for in the normalised text, so it is normalised too.
        normalizedAdded = new AddedTokenMatcher(addedByContent.Values.Where(a => a.Normalized)
            .Select(a => a with { Content = Normalized(a.Content) }));

        int maxId = Math.Max(modelVocab.Count == 0 ? -1 : modelVocab.Values.Max(), added.Count == 0 ? -1 : added.Max(a => a.Id));
        VocabSize = maxId + 1;
        modelTokens = new string?[VocabSize];
        foreach (var (token, id) in modelVocab)
            if (id >= 0) modelTokens[id] = token;

        BosToken = config.BosToken ?? Known(config.DefaultBosToken);
        EosToken = config.EosToken ?? Known(config.DefaultEosToken);
        PadToken = config.PadToken;
        foreach (var (name, token) in new[] { ("bos_token", BosToken), ("eos_token", EosToken), ("pad_token", PadToken) })
            if (token is not null && TokenToId(token) is null)
                throw InputException.At(configPath ?? path, null, name, $"'{token}' is not in the vocabulary of {path}");

        var post = root.TryGetProperty("post_processor", out var pp) ? TemplatePostProcessor.Parse(pp, path) : TemplatePostProcessor.None;
        if (config.RebuildsPostProcessor)
        {
            int Id(string flag, int? id) => id ?? throw InputException.At(configPath!, null, flag,
                $"true, but the tokenizer has no {flag[4..7]}_token");
            post = new TemplatePostProcessor(config.AddsBos ? [Id("add_bos_token", BosTokenId)] : [],
                config.AddsEos ? [Id("add_eos_token", EosTokenId)] : []);
        }
        (prefixIds, suffixIds) = (post.Prefix, post.Suffix);
        cleanUpTokenizationSpaces = config.CleanUpTokenizationSpaces;
    }

    /// <summary>A class's default token name that the vocabulary lacks stands for no token.</summary>
    private string? Known(string? token) => token is not null && TokenToId(token) is null ? null : token;

    private string Normalized(string content)
    {
        if (normalizer is null) return content;
        var text = NormalizedText.Of(content, 0, content.Length);
        normalizer.Normalize(text);
        return text.Text;
    }

    private Dictionary<long, (int Rank, int Merged)> ReadMerges(JsonElement modelJson, string path, int prefixLength)
    {
        var field = Required(modelJson, "merges", path, "model");
        if (field.ValueKind != JsonValueKind.Array) throw InputException.At(path, null, "model.merges", "expected a list");
        var merges = new Dictionary<long, (int, int)>(field.GetArrayLength());
        var bySpan = modelVocab.GetAlternateLookup<ReadOnlySpan<char>>(); // the merged token is looked up without building its string
        var buffer = new char[256];
        int rank = 0;
        foreach (var m in field.EnumerateArray())
        {
            string left, right;
            if (m.ValueKind == JsonValueKind.String)
            {
                // Older files write a merge as "a b" (tokenizers skips a "#version" header line); newer ones as ["a", "b"].
                var line = m.GetString()!;
                if (rank == 0 && line.StartsWith("#version", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ');
                if (parts.Length != 2) throw InputException.At(path, null, $"model.merges[{rank}]", "expected \"a b\" or [\"a\", \"b\"]");
                (left, right) = (parts[0], parts[1]);
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String
                     && m[1].ValueKind == JsonValueKind.String)
                (left, right) = (m[0].GetString()!, m[1].GetString()!);
            else throw InputException.At(path, null, $"model.merges[{rank}]", "expected \"a b\" or [\"a\", \"b\"]");
            InputException Bad(string token) => InputException.At(path, null, $"model.merges[{rank}]",
                $"'{token}' is not in the vocabulary");
            if (!modelVocab.TryGetValue(left, out var l)) throw Bad(left);
            if (!modelVocab.TryGetValue(right, out var r)) throw Bad(right);
            // With a continuing_subword_prefix the right part carries it and the merged token does not.
            var rightPart = prefixLength <= right.Length ? right.AsSpan(prefixLength) : right.AsSpan();
            if (left.Length + rightPart.Length > buffer.Length) buffer = new char[2 * (left.Length + rightPart.Length)];
            left.CopyTo(buffer);
            rightPart.CopyTo(buffer.AsSpan(left.Length));
            if (!bySpan.TryGetValue(buffer.AsSpan(0, left.Length + rightPart.Length), out var id)) throw Bad(left + rightPart.ToString());
            merges[BpeModel.Key(l, r)] = (rank, id); // a repeated pair takes its last rank, as in tokenizers
            rank++;
        }
        return merges;
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, string path)
    {
        var added = new List<AddedToken>();
        if (IsAbsent(root, "added_tokens")) return added;
        foreach (var a in root.GetProperty("added_tokens").EnumerateArray())
        {
            var field = $"added_tokens[{added.Count}]";
            if (IsAbsent(a, "id") || a.GetProperty("id").ValueKind != JsonValueKind.Number) throw InputException.At(path, null, field,
                "expected 'id' and 'content'");
            var content = String(a, "content", path, field);
            added.Add(new AddedToken(a.GetProperty("id").GetInt32(), content, Bool(a, "special", path, field, false),
                Bool(a, "single_word", path, field, false), Bool(a, "lstrip", path, field, false), Bool(a, "rstrip", path, field, false),
                Bool(a, "normalized", path, field, true)));
        }
        return added;
    }

    /// <summary>
    /// Reads <c>tokenizer.json</c> and, when given and present, <c>tokenizer_config.json</c> (gzip- or Brotli-compressed
    /// files, named *.gz / *.br, are read too). A tokenizer it cannot run is refused with an error naming the file and field.
    /// </summary>
    public static BpeTokenizer Load(string tokenizerJson, string? tokenizerConfig = null)
    {
        if (!File.Exists(tokenizerJson))
            throw new InputException($"{tokenizerJson}: file not found; expected a Hugging Face tokenizer.json");
        using var document = Parse(tokenizerJson);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new InputException($"{tokenizerJson}: expected a JSON object");
        bool hasConfig = tokenizerConfig is not null && File.Exists(tokenizerConfig);
        TransformersTokenizerConfig config;
        if (hasConfig)
        {
            using var configDocument = Parse(tokenizerConfig!);
            config = TransformersTokenizerConfig.Read(tokenizerConfig!, configDocument.RootElement);
        }
        else config = TransformersTokenizerConfig.Empty;
        try { return new BpeTokenizer(tokenizerJson, root, hasConfig ? tokenizerConfig : null, config); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or KeyNotFoundException or IndexOutOfRangeException)
        {
            // A field of an unexpected JSON kind (a string where an id belongs, ...) deep in the file.
            throw new InputException($"{tokenizerJson}: not a tokenizer.json of the expected shape ({e.Message})", e);
        }
    }

    private static JsonDocument Parse(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            using Stream stream = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress)
                : path.EndsWith(".br", StringComparison.Ordinal) ? new BrotliStream(file, CompressionMode.Decompress)
                : file;
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e) { throw new InputException($"{path}: not valid JSON ({e.Message})", e); }
    }

    public int? TokenToId(string token) =>
        addedByContent.TryGetValue(token, out var a) ? a.Id : modelVocab.TryGetValue(token, out var id) ? id : null;

    public TokenizedText Encode(string text, bool addSpecialTokens = false)
    {
        text = WithoutLoneSurrogates(text);
        var ids = new List<int>(text.Length / 3 + 4);
        var offsets = new List<(int, int)>(ids.Capacity);
        if (addSpecialTokens) foreach (var id in prefixIds) { ids.Add(id); offsets.Add((0, 0)); }
        int at = 0;
        foreach (var (start, end, id) in rawAdded.Find(text, 0, text.Length))
        {
            EncodeSegment(text, at, start, ids, offsets);
            ids.Add(id);
            offsets.Add((start, end));
            at = end;
        }
        EncodeSegment(text, at, text.Length, ids, offsets);
        // Ids after the text stand at its end, so offsets stay monotone.
        if (addSpecialTokens) foreach (var id in suffixIds) { ids.Add(id); offsets.Add((text.Length, text.Length)); }
        return new TokenizedText(ids, offsets);
    }

    /// <summary>
    /// A lone surrogate (possible in a .NET string, never in Rust's or Python's UTF-8 text) becomes U+FFFD, the
    /// character UTF-8 encoding would write for it anyway; the length, and so every offset, stays the same.
    /// </summary>
    private static string WithoutLoneSurrogates(string text)
    {
        char[]? copy = null;
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsSurrogatePair(text, i)) { i++; continue; }
            if (char.IsSurrogate(text[i])) (copy ??= text.ToCharArray())[i] = '\uFFFD';
        }
        return copy is null ? text : new string(copy);
    }

    /// <summary>Normalises text[start..end), then finds normalised added tokens, pre-tokenises and encodes the rest.</summary>
    private void EncodeSegment(string text, int start, int end, List<int> ids, List<(int, int)> offsets)
    {
        if (end <= start) return;
        var segment = NormalizedText.Of(text, start, end);
        normalizer?.Normalize(segment);
        int at = 0;
        foreach (var (mStart, mEnd, id) in normalizedAdded.Find(segment.Text, 0, segment.Length))
        {
            EncodePieces(segment, at, mStart, ids, offsets);
            ids.Add(id);
            offsets.Add(segment.SpanOf(mStart, mEnd));
            at = mEnd;
        }
        EncodePieces(segment, at, segment.Length, ids, offsets);
    }

    private void EncodePieces(NormalizedText segment, int start, int end, List<int> ids, List<(int, int)> offsets)
    {
        if (end <= start) return;
        List<NormalizedText> pieces = [segment.Slice(start, end)];
        if (preTokenizer is not null) pieces = preTokenizer.Split(pieces);
        foreach (var piece in pieces)
            foreach (var (id, tokenStart, tokenEnd) in model.Tokenize(piece.Text))
            {
                ids.Add(id);
                offsets.Add(piece.SpanOf(tokenStart, tokenEnd));
            }
    }

    /// <summary>
    /// tokenizers' decode (each id's token, special ones left out on request, unknown ids ignored; through the
    /// decoder, or joined with spaces without one), then transformers' clean-up when the config asks for it.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false) => Decode(ids, skipSpecialTokens, cleanUpTokenizationSpaces);

    /// <summary>
    /// Decodes with or without transformers' clean-up, whatever the config says (its <c>clean_up_tokenization_spaces</c> argument).
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens, bool cleanUpSpaces)
    {
        var tokens = new List<string>();
        foreach (var id in ids)
        {
            var token = addedById.TryGetValue(id, out var added) ? added.Content : id >= 0 && id < modelTokens.Length ? modelTokens[id]
                : null;
            if (token is null || skipSpecialTokens && specialContents.Contains(token)) continue;
            tokens.Add(token);
        }
        var text = decoder is null ? string.Join(" ", tokens) : decoder.Decode(tokens);
        return cleanUpSpaces ? TransformersTokenizerConfig.CleanUp(text) : text;
    }
}

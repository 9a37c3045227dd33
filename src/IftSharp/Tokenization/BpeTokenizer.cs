using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using IftSharp.Core;

namespace IftSharp.Tokenization;

/// <summary>
/// A trained byte-level BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> (Qwen2/Qwen3, Llama-3, GPT-2
/// style), encoding as <c>tokenizers</c> does: added tokens matched in the raw text first, then per remaining
/// segment NFC (when configured), the Split / ByteLevel regexes (isolated pieces, matched on code points), GPT-2's
/// byte-to-unicode alphabet, merges by rank (with Llama-3's <c>ignore_merges</c>), TemplateProcessing for special
/// tokens, ByteLevel decoding. Every id carries the character span of the original text it came from, which
/// completion-only loss masks need. Written by hand, not on Microsoft.ML.Tokenizers: see NOTES-bpe.md / the remarks.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers 2.0.1's BpeTokenizer has no <c>ignore_merges</c> (Llama-3's ids differ without it), reports
/// offsets into the normalised text rather than the caller's, and its pre-tokenizer regexes run on UTF-16 units.
/// </remarks>
public sealed class BpeTokenizer : ITokenizer
{
    /// <summary>GPT-2's pre-tokenizer pattern, used by a ByteLevel step with <c>use_regex</c> (its default).</summary>
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly Dictionary<string, int> modelVocab;
    private readonly string?[] modelTokens; // by id
    private readonly Dictionary<string, AddedToken> addedByContent;
    private readonly Dictionary<int, AddedToken> addedById;
    private readonly BpeMerges merges;
    private readonly bool nfc;
    private readonly CodePointRegex[] splits;
    private readonly AddedTokenMatcher rawAdded, normalizedAdded;
    private readonly int[] prefixIds, suffixIds;

    public int VocabSize { get; }
    public int? BosTokenId => BosToken is null ? null : TokenToId(BosToken);
    public int? EosTokenId => EosToken is null ? null : TokenToId(EosToken);
    public int? PadTokenId => PadToken is null ? null : TokenToId(PadToken);
    public string? BosToken { get; }
    public string? EosToken { get; }
    public string? PadToken { get; }

    private BpeTokenizer(string path, JsonElement root, string? configPath, JsonElement? config)
    {
        var model = Field(root, "model", path);
        var type = model.TryGetProperty("type", out var t) ? t.ToString() : null;
        if (type != "BPE") throw InputException.At(path, null, "model.type", $"'{type}' is not supported; expected 'BPE'");
        foreach (var name in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(name, out var affix) && affix.ValueKind == JsonValueKind.String && affix.GetString() != "")
                throw InputException.At(path, null, $"model.{name}", $"'{affix.GetString()}' is not supported; expected none (byte-level BPE)");
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw InputException.At(path, null, "model.dropout", "BPE dropout is not supported; expected null");

        var vocabField = Field(model, "vocab", path, "model.");
        if (vocabField.ValueKind != JsonValueKind.Object) throw InputException.At(path, null, "model.vocab", "expected an object of token -> id");
        modelVocab = vocabField.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        var pairs = new List<(string, string)>();
        foreach (var m in Field(model, "merges", path, "model.").EnumerateArray())
        {
            // Older files write a merge as "a b", newer ones as ["a", "b"] (which allows spaces inside symbols).
            var pair = m.ValueKind == JsonValueKind.String ? m.GetString()!.Split(' ', 2)
                : m.ValueKind == JsonValueKind.Array ? m.EnumerateArray().Select(x => x.GetString() ?? "").ToArray() : [];
            if (pair.Length != 2) throw InputException.At(path, null, $"model.merges[{pairs.Count}]", "expected \"a b\" or [\"a\", \"b\"]");
            pairs.Add((pair[0], pair[1]));
        }
        bool ignoreMerges = model.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True;
        merges = new BpeMerges(modelVocab, pairs, ignoreMerges, (rank, problem) => InputException.At(path, null, $"model.merges[{rank}]", problem));
        foreach (var symbol in ByteLevelTokenizer.ByteToChar)
            if (!modelVocab.ContainsKey(symbol.ToString()))
                throw InputException.At(path, null, "model.vocab", $"byte symbol '{symbol}' is missing; expected a byte-level vocabulary with all 256 byte symbols");

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
            foreach (var a in addedTokens.EnumerateArray())
            {
                bool Flag(string name) => a.TryGetProperty(name, out var f) && f.ValueKind == JsonValueKind.True;
                var content = a.TryGetProperty("content", out var c) ? c.GetString() : null;
                if (content is null || !a.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number)
                    throw InputException.At(path, null, $"added_tokens[{added.Count}]", "expected 'id' and 'content'");
                added.Add(new AddedToken(id.GetInt32(), content, Flag("special"), Flag("single_word"), Flag("lstrip"), Flag("rstrip"), Flag("normalized")));
            }
        addedByContent = added.GroupBy(a => a.Content).ToDictionary(g => g.Key, g => g.Last());
        addedById = added.GroupBy(a => a.Id).ToDictionary(g => g.Key, g => g.Last());

        nfc = Normalizer(root, path);
        splits = PreTokenizer(root, path);
        // With NFC, a normalized added token is looked for in the normalised text, so it is normalised too.
        rawAdded = new AddedTokenMatcher(addedByContent.Values.Where(a => !a.Normalized));
        normalizedAdded = new AddedTokenMatcher(addedByContent.Values.Where(a => a.Normalized)
            .Select(a => nfc ? a with { Content = a.Content.Normalize(NormalizationForm.FormC) } : a));

        int maxId = Math.Max(modelVocab.Count == 0 ? -1 : modelVocab.Values.Max(), added.Count == 0 ? -1 : added.Max(a => a.Id));
        VocabSize = maxId + 1;
        modelTokens = new string?[VocabSize];
        foreach (var (token, id) in modelVocab)
            if (id >= 0) modelTokens[id] = token;

        string? Token(string name) => config is JsonElement cfg && cfg.TryGetProperty(name, out var v)
            ? v.ValueKind == JsonValueKind.String ? v.GetString()
              : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var cv) ? cv.GetString() : null
            : null;
        BosToken = Token("bos_token");
        EosToken = Token("eos_token");
        PadToken = Token("pad_token");
        foreach (var (name, token) in new[] { ("bos_token", BosToken), ("eos_token", EosToken), ("pad_token", PadToken) })
            if (token is not null && TokenToId(token) is null)
                throw InputException.At(configPath ?? path, null, name, $"'{token}' is not in the vocabulary of {path}");

        (prefixIds, suffixIds) = PostProcessor(root, path);
        // transformers' Llama tokenizers honour add_bos_token even when the post-processor adds nothing (early
        // Llama-3 files); false never removes a BOS the template adds, as in transformers.
        if (config is JsonElement conf && conf.TryGetProperty("add_bos_token", out var addBos) && addBos.ValueKind == JsonValueKind.True
            && BosTokenId is int bos && (prefixIds.Length == 0 || prefixIds[0] != bos))
            prefixIds = [bos, .. prefixIds];
    }

    /// <summary>Reads <c>tokenizer.json</c> (and, when given and present, <c>tokenizer_config.json</c> for the bos/eos/pad token names and <c>add_bos_token</c>).</summary>
    public static BpeTokenizer Load(string tokenizerJson, string? tokenizerConfig = null)
    {
        static JsonElement Parse(string p)
        {
            try { using var d = JsonDocument.Parse(File.ReadAllText(p)); return d.RootElement.Clone(); }
            catch (JsonException e) { throw new InputException($"{p}: not valid JSON ({e.Message})", e); }
        }
        if (!File.Exists(tokenizerJson)) throw new InputException($"{tokenizerJson}: file not found; expected a Hugging Face tokenizer.json");
        var root = Parse(tokenizerJson);
        if (root.ValueKind != JsonValueKind.Object) throw new InputException($"{tokenizerJson}: expected a JSON object");
        bool hasConfig = tokenizerConfig is not null && File.Exists(tokenizerConfig);
        var config = hasConfig ? Parse(tokenizerConfig!) : (JsonElement?)null;
        try { return new BpeTokenizer(tokenizerJson, root, hasConfig ? tokenizerConfig : null, config); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or KeyNotFoundException or IndexOutOfRangeException)
        {
            // A field of an unexpected JSON kind (a string where an id belongs, ...) deep in the file.
            throw new InputException($"{tokenizerJson}: not a tokenizer.json of the expected shape ({e.Message})", e);
        }
    }

    private static JsonElement Field(JsonElement e, string name, string path, string prefix = "") =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v
            : throw InputException.At(path, null, prefix + name, "missing");

    private static string TypeOf(JsonElement e) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) ? t.ToString() : "";

    /// <summary>Whether the normalizer is NFC (false: none); anything else would change ids silently, so it is refused.</summary>
    private static bool Normalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return false;
        var steps = TypeOf(n) == "Sequence" && n.TryGetProperty("normalizers", out var list) ? list.EnumerateArray().ToList() : [n];
        bool nfc = false;
        for (int i = 0; i < steps.Count; i++)
        {
            var type = TypeOf(steps[i]);
            if (type == "NFC") nfc = true;
            else throw InputException.At(path, null, steps.Count == 1 && TypeOf(n) != "Sequence" ? "normalizer.type" : $"normalizer.normalizers[{i}].type",
                $"'{type}' is not supported; expected none or 'NFC'");
        }
        return nfc;
    }

    /// <summary>The regexes that cut the text into pieces, applied one after the other (none: a segment is one piece).</summary>
    private static CodePointRegex[] PreTokenizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var p) || p.ValueKind == JsonValueKind.Null)
            throw InputException.At(path, null, "pre_tokenizer", "missing; expected a ByteLevel pre-tokenizer (byte-level BPE)");
        bool sequence = TypeOf(p) == "Sequence";
        var steps = sequence && p.TryGetProperty("pretokenizers", out var list) ? list.EnumerateArray().ToList() : [p];
        var regexes = new List<CodePointRegex>();
        bool byteLevel = false;
        for (int i = 0; i < steps.Count; i++)
        {
            var s = steps[i];
            var field = sequence ? $"pre_tokenizer.pretokenizers[{i}]" : "pre_tokenizer";
            var type = TypeOf(s);
            if (type == "Split")
            {
                var behavior = s.TryGetProperty("behavior", out var b) ? b.ToString() : "";
                if (behavior != "Isolated") throw InputException.At(path, null, $"{field}.behavior", $"'{behavior}' is not supported; expected 'Isolated'");
                if (s.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True)
                    throw InputException.At(path, null, $"{field}.invert", "true is not supported; expected false");
                if (!s.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object)
                    throw InputException.At(path, null, $"{field}.pattern", "missing");
                string source = pattern.TryGetProperty("Regex", out var r) ? r.GetString() ?? ""
                    : pattern.TryGetProperty("String", out var str) ? Regex.Escape(str.GetString() ?? "")
                    : throw InputException.At(path, null, $"{field}.pattern", "expected 'Regex' or 'String'");
                try { regexes.Add(new CodePointRegex(new Regex(source, RegexOptions.CultureInvariant))); }
                catch (ArgumentException e) { throw InputException.At(path, null, $"{field}.pattern.Regex", $"not a regex .NET can run ({e.Message})"); }
            }
            else if (type == "ByteLevel")
            {
                byteLevel = true;
                if (s.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True)
                    throw InputException.At(path, null, $"{field}.add_prefix_space", "true is not supported; expected false");
                // tokenizers' default for a missing use_regex is true.
                if (!s.TryGetProperty("use_regex", out var ur) || ur.ValueKind == JsonValueKind.True)
                    regexes.Add(new CodePointRegex(new Regex(Gpt2Pattern, RegexOptions.CultureInvariant)));
            }
            else throw InputException.At(path, null, $"{field}.type", $"'{type}' is not supported; expected 'Split' or 'ByteLevel'");
        }
        if (!byteLevel) throw InputException.At(path, null, "pre_tokenizer", "no ByteLevel step; only byte-level BPE is supported");
        return regexes.ToArray();
    }

    /// <summary>Ids the post-processor puts around a single sequence: TemplateProcessing's special tokens; ByteLevel adds none.</summary>
    private static (int[] Prefix, int[] Suffix) PostProcessor(JsonElement root, string path)
    {
        if (!root.TryGetProperty("post_processor", out var p) || p.ValueKind == JsonValueKind.Null) return ([], []);
        bool sequence = TypeOf(p) == "Sequence";
        var processors = sequence && p.TryGetProperty("processors", out var list) ? list.EnumerateArray().ToList() : [p];
        var prefix = new List<int>();
        var suffix = new List<int>();
        for (int i = 0; i < processors.Count; i++)
        {
            var proc = processors[i];
            var field = sequence ? $"post_processor.processors[{i}]" : "post_processor";
            var type = TypeOf(proc);
            if (type == "ByteLevel") continue; // only trims offsets in tokenizers; our offsets keep the whole span
            if (type != "TemplateProcessing") throw InputException.At(path, null, $"{field}.type", $"'{type}' is not supported; expected 'TemplateProcessing' or 'ByteLevel'");
            bool afterSequence = false;
            foreach (var piece in proc.GetProperty("single").EnumerateArray())
            {
                if (piece.TryGetProperty("Sequence", out _)) { afterSequence = true; continue; }
                var name = piece.TryGetProperty("SpecialToken", out var st) && st.TryGetProperty("id", out var stId) ? stId.GetString() : null;
                if (name is null || !proc.TryGetProperty("special_tokens", out var specials) || !specials.TryGetProperty(name, out var special))
                    throw InputException.At(path, null, $"{field}.single", $"special token '{name}' is not listed in special_tokens");
                (afterSequence ? suffix : prefix).AddRange(special.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()));
            }
        }
        return (prefix.ToArray(), suffix.ToArray());
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

    /// <summary>Normalises, pre-tokenises and merges text[start..end), recording each id's span in the original text.</summary>
    private void EncodeSegment(string text, int start, int end, List<int> ids, List<(int, int)> offsets)
    {
        if (end <= start) return;
        var (s, origin) = Normalize(text, start, end);
        int at = 0;
        foreach (var (mStart, mEnd, id) in normalizedAdded.Find(s, 0, s.Length))
        {
            EncodePieces(s, at, mStart, origin, ids, offsets);
            ids.Add(id);
            offsets.Add((origin[mStart].Start, origin[mEnd - 1].End));
            at = mEnd;
        }
        EncodePieces(s, at, s.Length, origin, ids, offsets);
    }

    /// <summary>
    /// The segment as the model sees it and, for each of its UTF-16 units, the span of the original text it stands
    /// for (both units of a surrogate pair: the pair). NFC runs per text element, since compositions never cross one;
    /// the characters of an element NFC changed all stand for the whole original element.
    /// </summary>
    private (string Text, (int Start, int End)[] Origin) Normalize(string text, int start, int end)
    {
        var segment = text.Substring(start, end - start);
        if (nfc && !segment.IsNormalized(NormalizationForm.FormC))
        {
            var normalized = new StringBuilder(segment.Length);
            var map = new List<(int, int)>(segment.Length);
            var elements = StringInfo.GetTextElementEnumerator(segment);
            while (elements.MoveNext())
            {
                var element = (string)elements.Current;
                int from = start + elements.ElementIndex;
                var n = element.Normalize(NormalizationForm.FormC);
                normalized.Append(n);
                if (n == element) AddIdentity(element, from, map);
                else for (int k = 0; k < n.Length; k++) map.Add((from, from + element.Length));
            }
            return (normalized.ToString(), map.ToArray());
        }
        var identity = new List<(int, int)>(segment.Length);
        AddIdentity(segment, start, identity);
        return (segment, identity.ToArray());
    }

    private static void AddIdentity(string s, int from, List<(int, int)> map)
    {
        for (int k = 0; k < s.Length; k++)
        {
            int first = char.IsLowSurrogate(s[k]) && k > 0 && char.IsHighSurrogate(s[k - 1]) ? k - 1 : k;
            map.Add((from + first, from + first + (char.IsSurrogatePair(s, first) ? 2 : 1)));
        }
    }

    private void EncodePieces(string s, int start, int end, (int Start, int End)[] origin, List<int> ids, List<(int, int)> offsets)
    {
        if (end <= start) return;
        var pieces = new List<(int Start, int Length)> { (start, end - start) };
        foreach (var regex in splits)
        {
            var next = new List<(int, int)>(pieces.Count * 2);
            foreach (var (pStart, pLength) in pieces) regex.SplitIsolated(s, pStart, pLength, next);
            pieces = next;
        }
        Span<byte> utf8 = stackalloc byte[4];
        var word = new StringBuilder();
        var symbolChar = new List<int>();
        foreach (var (pStart, pLength) in pieces)
        {
            // Byte-level symbols of the piece, each remembering the (normalised) character it came from.
            word.Clear();
            symbolChar.Clear();
            for (int c = pStart; c < pStart + pLength;)
            {
                Rune.DecodeFromUtf16(s.AsSpan(c, pStart + pLength - c), out var rune, out int width);
                int count = rune.EncodeToUtf8(utf8);
                for (int b = 0; b < count; b++) { word.Append(ByteLevelTokenizer.ByteToChar[utf8[b]]); symbolChar.Add(c); }
                c += width;
            }
            int position = 0;
            foreach (var id in merges.Encode(word.ToString()))
            {
                int length = modelTokens[id]!.Length; // byte-alphabet tokens: one character per byte
                offsets.Add((origin[symbolChar[position]].Start, origin[symbolChar[position + length - 1]].End));
                ids.Add(id);
                position += length;
            }
        }
    }

    /// <summary>tokenizers' ByteLevel decoder: every token's characters back to bytes (a token with characters outside the byte alphabet, such as an added token, as its own UTF-8), then UTF-8 with U+FFFD for broken sequences.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            string token;
            if (addedById.TryGetValue(id, out var added))
            {
                if (skipSpecialTokens && added.Special) continue;
                token = added.Content;
            }
            else token = id >= 0 && id < modelTokens.Length && modelTokens[id] is string m ? m
                : throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is not in the vocabulary");
            if (token.All(ByteLevelTokenizer.CharToByte.ContainsKey)) foreach (var c in token) bytes.Add(ByteLevelTokenizer.CharToByte[c]);
            else bytes.AddRange(Encoding.UTF8.GetBytes(token));
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}

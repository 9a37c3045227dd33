using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using IftSharp.Core;

namespace IftSharp.Tokenization;

/// <summary>
/// A trained byte-level BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> (Qwen2/Qwen3, Llama-3, GPT-2
/// style): added tokens matched first, NFC normalisation when configured, the Split pre-tokenizer's regex (isolated
/// pieces), GPT-2's byte-to-unicode mapping, merges by rank (with Llama-3's <c>ignore_merges</c>: a piece already in
/// the vocabulary is one token), TemplateProcessing for special tokens, ByteLevel decoding. Every id carries the
/// character span of the input it came from, which completion-only loss masks need.
/// Written by hand: Microsoft.ML.Tokenizers' BPE does not expose <c>ignore_merges</c> or per-token offsets into the
/// original (pre-normalisation) text, and both decide ids or masks here.
/// </summary>
public sealed class BpeTokenizer : ITokenizer
{
    private readonly Dictionary<string, int> vocab;
    private readonly string[] idToToken;
    private readonly Dictionary<(string, string), int> mergeRanks;
    private readonly bool ignoreMerges, nfc;
    private readonly Regex? split;
    private readonly (string Content, int Id, bool Special)[] added; // longest first, for leftmost-longest matching
    private readonly HashSet<int> specialIds, addedIds;
    private readonly int[] prefixIds;
    private readonly Dictionary<string, int[]> cache = new();

    public int VocabSize => idToToken.Length;
    public int? BosTokenId => BosToken is null ? null : TokenToId(BosToken);
    public int? EosTokenId => EosToken is null ? null : TokenToId(EosToken);
    public int? PadTokenId => PadToken is null ? null : TokenToId(PadToken);
    public string? BosToken { get; }
    public string? EosToken { get; }
    public string? PadToken { get; }

    private BpeTokenizer(string path, JsonElement root, JsonElement? config)
    {
        var model = Field(root, "model", path);
        var type = model.TryGetProperty("type", out var t) ? t.GetString() : null;
        if (type != "BPE") throw new InputException($"{path}: field 'model.type': '{type}' is not supported; expected 'BPE'");
        vocab = Field(model, "vocab", path, "model.").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        ignoreMerges = model.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True;
        mergeRanks = new Dictionary<(string, string), int>();
        int rank = 0;
        foreach (var m in Field(model, "merges", path, "model.").EnumerateArray())
        {
            var pair = m.ValueKind == JsonValueKind.String ? m.GetString()!.Split(' ', 2) : m.EnumerateArray().Select(x => x.GetString()!).ToArray();
            if (pair.Length != 2) throw new InputException($"{path}: field 'model.merges[{rank}]': expected two symbols");
            mergeRanks.TryAdd((pair[0], pair[1]), rank++);
        }

        nfc = Normalizer(root, path);
        split = PreTokenizer(root, path);
        var addedList = new List<(string, int, bool)>();
        if (root.TryGetProperty("added_tokens", out var addedTokens))
            foreach (var a in addedTokens.EnumerateArray())
            {
                var content = a.GetProperty("content").GetString()!;
                int id = a.GetProperty("id").GetInt32();
                addedList.Add((content, id, a.TryGetProperty("special", out var sp) && sp.GetBoolean()));
                vocab[content] = id;
            }
        added = addedList.OrderByDescending(x => x.Item1.Length).ToArray();
        specialIds = addedList.Where(x => x.Item3).Select(x => x.Item2).ToHashSet();
        addedIds = addedList.Select(x => x.Item2).ToHashSet();
        idToToken = new string[vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab) idToToken[id] = token;
        prefixIds = TemplatePrefix(root, path);

        string? Token(string name) => config is JsonElement c && c.TryGetProperty(name, out var v)
            ? v.ValueKind == JsonValueKind.String ? v.GetString() : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var cv) ? cv.GetString() : null
            : null;
        BosToken = Token("bos_token");
        EosToken = Token("eos_token");
        PadToken = Token("pad_token");
    }

    /// <summary>Reads <c>tokenizer.json</c> (and, when given, <c>tokenizer_config.json</c> for the bos/eos/pad token names).</summary>
    public static BpeTokenizer Load(string tokenizerJson, string? tokenizerConfig = null)
    {
        JsonElement Parse(string p)
        {
            try { using var d = JsonDocument.Parse(File.ReadAllText(p)); return d.RootElement.Clone(); }
            catch (JsonException e) { throw new InputException($"{p}: not valid JSON ({e.Message})"); }
        }
        return new BpeTokenizer(tokenizerJson, Parse(tokenizerJson), tokenizerConfig is not null && File.Exists(tokenizerConfig) ? Parse(tokenizerConfig) : null);
    }

    private static JsonElement Field(JsonElement e, string name, string path, string prefix = "") =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v
            : throw new InputException($"{path}: field '{prefix}{name}': missing");

    private static bool Normalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return false;
        var type = n.GetProperty("type").GetString();
        if (type == "NFC") return true;
        if (type == "Sequence" && n.GetProperty("normalizers").GetArrayLength() == 0) return false;
        throw new InputException($"{path}: field 'normalizer.type': '{type}' is not supported; expected none or 'NFC'");
    }

    /// <summary>The Split regex of a byte-level pre-tokenizer (null: the whole text is one piece).</summary>
    private static Regex? PreTokenizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var p) || p.ValueKind == JsonValueKind.Null)
            throw new InputException($"{path}: field 'pre_tokenizer': missing; expected a byte-level pre-tokenizer");
        var steps = p.GetProperty("type").GetString() == "Sequence" ? p.GetProperty("pretokenizers").EnumerateArray().ToList() : [p];
        Regex? regex = null;
        bool byteLevel = false;
        foreach (var s in steps)
        {
            var type = s.GetProperty("type").GetString();
            if (type == "Split")
            {
                var behavior = s.GetProperty("behavior").GetString();
                if (behavior != "Isolated" || s.TryGetProperty("invert", out var inv) && inv.GetBoolean())
                    throw new InputException($"{path}: field 'pre_tokenizer': Split with behavior '{behavior}' is not supported; expected 'Isolated'");
                var pattern = s.GetProperty("pattern");
                regex = pattern.TryGetProperty("Regex", out var r) ? new Regex(r.GetString()!, RegexOptions.CultureInvariant)
                    : new Regex(Regex.Escape(pattern.GetProperty("String").GetString()!), RegexOptions.CultureInvariant);
            }
            else if (type == "ByteLevel")
            {
                byteLevel = true;
                if (s.TryGetProperty("add_prefix_space", out var aps) && aps.GetBoolean())
                    throw new InputException($"{path}: field 'pre_tokenizer': ByteLevel add_prefix_space true is not supported");
                if (s.TryGetProperty("use_regex", out var ur) && ur.GetBoolean())
                    regex ??= new Regex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.CultureInvariant); // GPT-2's
            }
            else throw new InputException($"{path}: field 'pre_tokenizer': '{type}' is not supported; expected Split and ByteLevel");
        }
        if (!byteLevel) throw new InputException($"{path}: field 'pre_tokenizer': no ByteLevel step; only byte-level BPE is supported");
        return regex;
    }

    /// <summary>Ids TemplateProcessing puts before a single sequence (e.g. a BOS token); other post-processors add none.</summary>
    private int[] TemplatePrefix(JsonElement root, string path)
    {
        if (!root.TryGetProperty("post_processor", out var p) || p.ValueKind == JsonValueKind.Null) return [];
        var processors = p.GetProperty("type").GetString() == "Sequence" ? p.GetProperty("processors").EnumerateArray().ToList() : [p];
        var ids = new List<int>();
        foreach (var proc in processors.Where(x => x.GetProperty("type").GetString() == "TemplateProcessing"))
            foreach (var piece in proc.GetProperty("single").EnumerateArray())
            {
                if (piece.TryGetProperty("Sequence", out _)) break;
                var name = piece.GetProperty("SpecialToken").GetProperty("id").GetString()!;
                ids.AddRange(proc.GetProperty("special_tokens").GetProperty(name).GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()));
            }
        return ids.ToArray();
    }

    public int? TokenToId(string token) => vocab.TryGetValue(token, out var id) ? id : null;

    public TokenizedText Encode(string text, bool addSpecialTokens = false)
    {
        var ids = new List<int>();
        var offsets = new List<(int, int)>();
        if (addSpecialTokens) foreach (var id in prefixIds) { ids.Add(id); offsets.Add((0, 0)); }
        int start = 0;
        for (int i = 0; i <= text.Length; i++)
        {
            var match = i < text.Length ? AddedAt(text, i) : default;
            if (i < text.Length && match.Content is null) continue;
            EncodeSegment(text, start, i, ids, offsets);
            if (i == text.Length) break;
            ids.Add(match.Id);
            offsets.Add((i, i + match.Content!.Length));
            i += match.Content!.Length - 1;
            start = i + 1;
        }
        return new TokenizedText(ids, offsets);
    }

    private (string? Content, int Id) AddedAt(string text, int i)
    {
        foreach (var (content, id, _) in added)
            if (string.CompareOrdinal(text, i, content, 0, content.Length) == 0) return (content, id);
        return (null, 0);
    }

    /// <summary>Normalises, pre-tokenises and merges text[start..end), recording each id's span in the original text.</summary>
    private void EncodeSegment(string text, int start, int end, List<int> ids, List<(int, int)> offsets)
    {
        if (end <= start) return;
        // NFC per text element (compositions never cross one) keeps a map from normalised characters back to the original ones.
        var normalized = new StringBuilder();
        var origin = new List<(int Start, int End)>();
        var elements = StringInfo.GetTextElementEnumerator(text.Substring(start, end - start));
        while (elements.MoveNext())
        {
            var element = (string)elements.Current;
            int from = start + elements.ElementIndex;
            var n = nfc ? element.Normalize(NormalizationForm.FormC) : element;
            normalized.Append(n);
            if (n == element) // unchanged: every character (a surrogate pair as one) maps to itself
                for (int k = 0; k < n.Length; k++)
                {
                    int at = char.IsLowSurrogate(n[k]) && k > 0 ? k - 1 : k;
                    origin.Add((from + at, from + at + (char.IsSurrogatePair(n, at) ? 2 : 1)));
                }
            else // composed by NFC: the new characters stand for the whole original element
                for (int k = 0; k < n.Length; k++) origin.Add((from, from + element.Length));
        }
        var s = normalized.ToString();
        var pieces = split is null ? [(0, s.Length)] : Pieces(s);
        foreach (var (pStart, pLength) in pieces)
        {
            // Byte-level symbols of the piece, each remembering the normalised character it came from.
            var symbols = new StringBuilder();
            var symbolChar = new List<int>();
            for (int c = pStart; c < pStart + pLength;)
            {
                int width = char.IsSurrogatePair(s, c) ? 2 : 1;
                foreach (var b in Encoding.UTF8.GetBytes(s.Substring(c, width)))
                {
                    symbols.Append(ByteLevelTokenizer.ByteToChar[b]);
                    symbolChar.Add(c);
                }
                c += width;
            }
            var word = symbols.ToString();
            int position = 0;
            foreach (var id in Bpe(word))
            {
                int length = idToToken[id].Length;
                int first = symbolChar[position], last = symbolChar[position + length - 1];
                offsets.Add((origin[first].Start, origin[last].End));
                ids.Add(id);
                position += length;
            }
        }
    }

    /// <summary>The regex matches and the gaps between them, in order (the Split pre-tokenizer with Isolated behaviour).</summary>
    private List<(int Start, int Length)> Pieces(string s)
    {
        var pieces = new List<(int, int)>();
        int at = 0;
        foreach (Match m in split!.Matches(s))
        {
            if (m.Length == 0) continue;
            if (m.Index > at) pieces.Add((at, m.Index - at));
            pieces.Add((m.Index, m.Length));
            at = m.Index + m.Length;
        }
        if (at < s.Length) pieces.Add((at, s.Length - at));
        return pieces;
    }

    /// <summary>Merges a byte-level word by rank; the result is cached per word.</summary>
    private int[] Bpe(string word)
    {
        if (cache.TryGetValue(word, out var cached)) return cached;
        int[] result;
        if (ignoreMerges && vocab.TryGetValue(word, out var whole)) result = [whole];
        else
        {
            var parts = word.Select(c => c.ToString()).ToList();
            while (parts.Count > 1)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i < parts.Count - 1; i++)
                    if (mergeRanks.TryGetValue((parts[i], parts[i + 1]), out var r) && r < bestRank) (best, bestRank) = (i, r);
                if (best < 0) break;
                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }
            result = parts.Select(p => vocab.TryGetValue(p, out var id) ? id
                : throw new InvalidOperationException($"BPE symbol '{p}' is not in the vocabulary")).ToArray();
        }
        if (cache.Count < 100_000) cache[word] = result;
        return result;
    }

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var sb = new StringBuilder();
        var bytes = new List<byte>();
        void Flush() { sb.Append(Encoding.UTF8.GetString(bytes.ToArray())); bytes.Clear(); }
        foreach (var id in ids)
        {
            if (id < 0 || id >= idToToken.Length || idToToken[id] is null) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is not in the vocabulary");
            var token = idToToken[id];
            if (addedIds.Contains(id))
            {
                if (skipSpecialTokens && specialIds.Contains(id)) continue;
                Flush();
                sb.Append(token);
                continue;
            }
            foreach (var c in token) bytes.Add(ByteLevelTokenizer.CharToByte[c]);
        }
        Flush();
        return sb.ToString();
    }
}

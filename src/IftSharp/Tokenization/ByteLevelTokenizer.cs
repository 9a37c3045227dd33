using System.Text;
using System.Text.Json.Nodes;
using IftSharp.Core;

namespace IftSharp.Tokenization;

/// <summary>
/// The project's own tokenizer for its small models: one token per UTF-8 byte (GPT-2's byte-to-unicode alphabet, as
/// byte-level BPE uses) plus ChatML special tokens. It is a byte-level BPE without merges, so the
/// <c>tokenizer.json</c> it writes loads in Hugging Face <c>tokenizers</c> unchanged. Encoding is exact and needs
/// no training; sequences are about four times longer than a trained BPE's, which is fine for the tiny demo models.
/// </summary>
public sealed class ByteLevelTokenizer : ITokenizer
{
    public static readonly string[] SpecialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    internal static readonly char[] ByteToChar = BuildByteAlphabet();
    internal static readonly Dictionary<char, byte> CharToByte = Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    public int VocabSize => 256 + SpecialTokens.Length;
    public int? BosTokenId => null;
    public int? EosTokenId => TokenToId("<|im_end|>");
    public int? PadTokenId => TokenToId("<|endoftext|>");
    public string? BosToken => null;
    public string? EosToken => "<|im_end|>";

    public int? TokenToId(string token)
    {
        int special = Array.IndexOf(SpecialTokens, token);
        if (special >= 0) return 256 + special;
        return token.Length == 1 && CharToByte.TryGetValue(token[0], out var b) ? b : null;
    }

    public TokenizedText Encode(string text, bool addSpecialTokens = false)
    {
        var ids = new List<int>();
        var offsets = new List<(int, int)>();
        int i = 0;
        while (i < text.Length)
        {
            int special = Array.FindIndex(SpecialTokens, s => string.CompareOrdinal(text, i, s, 0, s.Length) == 0);
            if (special >= 0)
            {
                ids.Add(256 + special);
                offsets.Add((i, i + SpecialTokens[special].Length));
                i += SpecialTokens[special].Length;
                continue;
            }
            int width = char.IsSurrogatePair(text, i) ? 2 : 1;
            foreach (var b in Encoding.UTF8.GetBytes(text.Substring(i, width)))
            {
                ids.Add(b);
                offsets.Add((i, i + width)); // every byte of a character maps to that character's span
            }
            i += width;
        }
        return new TokenizedText(ids, offsets);
    }

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var sb = new StringBuilder();
        var bytes = new List<byte>();
        void Flush() { sb.Append(Encoding.UTF8.GetString(bytes.ToArray())); bytes.Clear(); }
        foreach (var id in ids)
        {
            if (id is >= 0 and < 256) { bytes.Add((byte)id); continue; }
            Flush();
            if (id >= 256 && id < VocabSize) { if (!skipSpecialTokens) sb.Append(SpecialTokens[id - 256]); }
            else throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside the vocabulary of {VocabSize}");
        }
        Flush();
        return sb.ToString();
    }

    /// <summary>
    /// Writes <c>tokenizer.json</c> (a merge-free byte-level BPE) and <c>tokenizer_config.json</c> (ChatML template) into
    /// <paramref name="directory"/>.
    /// </summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteToChar[b].ToString()] = b;
        var added = new JsonArray(SpecialTokens.Select((t, k) => (JsonNode)new JsonObject
        {
            ["id"] = 256 + k, ["content"] = t, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        }).ToArray());
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false,
            },
            ["post_processor"] = null,
            ["decoder"] = new JsonObject
            {
                ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false,
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab, ["merges"] = new JsonArray(),
            },
        };
        var config = new JsonObject
        {
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["bos_token"] = null,
            ["eos_token"] = EosToken,
            ["pad_token"] = "<|endoftext|>",
            ["model_max_length"] = 4096,
            ["chat_template"] = ChatMlTemplate.JinjaSource,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, "tokenizer.json"), tokenizer.ToJsonString());
        AtomicFile.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), config.ToJsonString(new() { WriteIndented = true }));
    }

    /// <summary>
    /// Whether <paramref name="directory"/> holds a tokenizer written by <see cref="Save"/> (a merge-free byte-level
    /// vocabulary of this layout).
    /// </summary>
    public static bool IsSavedIn(string directory)
    {
        var path = Path.Combine(directory, "tokenizer.json");
        // Ours holds 256 byte tokens and no merges (a few kB); a trained vocabulary runs to megabytes and is not worth
        // parsing twice just to say no.
        if (!File.Exists(path) || new FileInfo(path).Length > 256 * 1024) return false;
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (System.Text.Json.JsonException) { return false; } // not ours; the BPE loader reports what is wrong with it
        var model = root?["model"];
        return model?["merges"] is JsonArray { Count: 0 } && model["vocab"] is JsonObject { Count: 256 }
               && root!["added_tokens"] is JsonArray added
               && added.Select(a => a?["content"]?.GetValue<string>()).SequenceEqual(SpecialTokens);
    }

    /// <summary>GPT-2's reversible map from bytes to printable characters.</summary>
    private static char[] BuildByteAlphabet()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1)
            .Concat(Enumerable.Range('¡', '¬' - '¡' + 1))
            .Concat(Enumerable.Range('®', 'ÿ' - '®' + 1))
            .ToHashSet();
        var map = new char[256];
        int next = 0;
        for (int b = 0; b < 256; b++) map[b] = printable.Contains(b) ? (char)b : (char)(256 + next++);
        return map;
    }
}

using System.Collections.Concurrent;
using System.Text;

namespace IftSharp.Tokenization;

/// <summary>
/// The BPE model of a <c>tokenizer.json</c>, as <c>tokenizers</c>' BPE encodes one pre-tokenized piece: the whole
/// piece when <c>ignore_merges</c> finds it in the vocabulary; otherwise one symbol per character (with the
/// <c>continuing_subword_prefix</c> on all but the first and the <c>end_of_word_suffix</c> on the last), a character
/// missing from the vocabulary becoming its UTF-8 bytes' <c>&lt;0xNN&gt;</c> tokens (<c>byte_fallback</c>), else
/// the unknown token (runs of them fused with <c>fuse_unk</c>), else nothing; then merges applied lowest rank first,
/// leftmost first among equal ranks. Merges are id pairs in a priority queue, so a long piece costs n log n.
/// Results are cached per piece (thread-safe); each token carries the [start, end) of the piece's UTF-16 units it covers.
/// </summary>
internal sealed class BpeModel
{
    private const int CacheLimit = 200_000;
    private const int LongestCachedPiece = 256;

    private readonly Dictionary<string, int> vocab;
    private readonly Dictionary<long, (int Rank, int Merged)> merges;
    private readonly int? unkId;
    private readonly bool fuseUnk, byteFallback, ignoreMerges;
    private readonly string? prefix, suffix;
    private readonly int[] byteIds; // <0xNN> ids, -1 where absent
    private readonly ConcurrentDictionary<string, (int Id, int Start, int End)[]> cache = new();

    public BpeModel(Dictionary<string, int> vocab, Dictionary<long, (int Rank, int Merged)> merges, int? unkId, bool fuseUnk,
        bool byteFallback, bool ignoreMerges, string? prefix, string? suffix)
    {
        this.vocab = vocab;
        this.merges = merges;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
        this.prefix = string.IsNullOrEmpty(prefix) ? null : prefix;
        this.suffix = string.IsNullOrEmpty(suffix) ? null : suffix;
        byteIds = new int[256];
        for (int b = 0; b < 256; b++) byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
    }

    public static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>The tokens of <paramref name="piece"/> as (id, start, end) in its UTF-16 units.</summary>
    public (int Id, int Start, int End)[] Tokenize(string piece)
    {
        if (piece.Length == 0) return [];
        if (cache.TryGetValue(piece, out var cached)) return cached;
        var result = ignoreMerges && vocab.TryGetValue(piece, out var whole) ? [(whole, 0, piece.Length)] : Merge(Symbols(piece));
        if (piece.Length <= LongestCachedPiece && cache.Count < CacheLimit) cache.TryAdd(piece, result);
        return result;
    }

    private List<(int Id, int Start, int End)> Symbols(string piece)
    {
        var symbols = new List<(int Id, int Start, int End)>(piece.Length);
        (int Id, int Start, int End)? unk = null;
        Span<byte> utf8 = stackalloc byte[64];
        for (int c = 0; c < piece.Length;)
        {
            int width = char.IsSurrogatePair(piece, c) ? 2 : 1;
            var s = piece.Substring(c, width);
            if (c > 0 && prefix is not null) s = prefix + s;
            if (c + width == piece.Length && suffix is not null) s += suffix;
            if (vocab.TryGetValue(s, out var id))
            {
                if (unk is { } u) { symbols.Add(u); unk = null; }
                symbols.Add((id, c, c + width));
            }
            else if (byteFallback && AllBytesKnown(s, utf8, out int count))
            {
                // As in tokenizers, byte tokens do not flush a pending unknown token (it follows them).
                for (int b = 0; b < count; b++) symbols.Add((byteIds[utf8[b]], c, c + width));
            }
            else if (unkId is int unkToken)
            {
                if (unk is { } u && fuseUnk) unk = (unkToken, u.Start, c + width);
                else
                {
                    if (unk is { } previous) symbols.Add(previous);
                    unk = (unkToken, c, c + width);
                }
            }
            c += width;
        }
        if (unk is { } last) symbols.Add(last);
        return symbols;
    }

    private bool AllBytesKnown(string s, Span<byte> utf8, out int count)
    {
        count = Encoding.UTF8.GetByteCount(s);
        if (count > utf8.Length) return false;
        Encoding.UTF8.GetBytes(s, utf8);
        for (int b = 0; b < count; b++) if (byteIds[utf8[b]] < 0) return false;
        return true;
    }

    private (int Id, int Start, int End)[] Merge(List<(int Id, int Start, int End)> symbols)
    {
        int n = symbols.Count;
        if (n <= 1) return symbols.ToArray();
        var ids = new int[n];
        var starts = new int[n];
        var ends = new int[n];
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++) { (ids[i], starts[i], ends[i]) = symbols[i]; next[i] = i + 1; prev[i] = i - 1; }
        var queue = new PriorityQueue<(int Left, int LeftId, int RightId), (int Rank, int Position)>();
        void Offer(int left)
        {
            int right = next[left];
            if (left < 0 || right >= n) return;
            if (merges.TryGetValue(Key(ids[left], ids[right]), out var m)) queue.Enqueue((left, ids[left], ids[right]), (m.Rank, left));
        }
        for (int i = 0; i < n - 1; i++) Offer(i);
        var removed = new bool[n];
        while (queue.TryDequeue(out var candidate, out _))
        {
            int left = candidate.Left;
            // Stale entries: a side was merged away or changed since the pair was offered.
            if (removed[left] || ids[left] != candidate.LeftId) continue;
            int right = next[left];
            if (right >= n || ids[right] != candidate.RightId) continue;
            ids[left] = merges[Key(candidate.LeftId, candidate.RightId)].Merged;
            ends[left] = Math.Max(ends[left], ends[right]);
            removed[right] = true;
            next[left] = next[right];
            if (next[right] < n) prev[next[right]] = left;
            Offer(left);
            if (prev[left] >= 0) Offer(prev[left]);
        }
        var result = new List<(int, int, int)>();
        for (int i = 0; i < n; i = next[i]) result.Add((ids[i], starts[i], ends[i]));
        return result.ToArray();
    }
}

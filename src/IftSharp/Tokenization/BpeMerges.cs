using System.Collections.Concurrent;

namespace IftSharp.Tokenization;

/// <summary>
/// The BPE model of a byte-level <c>tokenizer.json</c>: turns one pre-token (a string of byte-alphabet characters)
/// into vocabulary ids by applying merges lowest rank first, leftmost first among equal ranks. Merges are kept as
/// id pairs and applied with a priority queue, so a long piece (a run of letters, a base64 blob) costs n log n, not n².
/// Results are cached per pre-token because text repeats words; the cache is safe for concurrent encoders.
/// </summary>
internal sealed class BpeMerges
{
    private const int CacheLimit = 200_000;
    private readonly IReadOnlyDictionary<string, int> vocab;
    private readonly Dictionary<long, (int Rank, int Merged)> merges;
    private readonly bool ignoreMerges;
    private readonly ConcurrentDictionary<string, int[]> cache = new();

    /// <param name="merges">Pairs of vocabulary tokens by rank; a pair whose parts or concatenation are not in the vocabulary is an error, as in <c>tokenizers</c>.</param>
    public BpeMerges(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, bool ignoreMerges, Func<int, string, Exception> badMerge)
    {
        this.vocab = vocab;
        this.ignoreMerges = ignoreMerges;
        this.merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out var l)) throw badMerge(rank, $"'{left}' is not in the vocabulary");
            if (!vocab.TryGetValue(right, out var r)) throw badMerge(rank, $"'{right}' is not in the vocabulary");
            if (!vocab.TryGetValue(left + right, out var m)) throw badMerge(rank, $"'{left + right}' is not in the vocabulary");
            this.merges.TryAdd(Key(l, r), (rank, m)); // a repeated pair keeps its first (lowest) rank
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>The ids of <paramref name="word"/>, whose characters are byte-alphabet symbols each standing for one byte.</summary>
    public int[] Encode(string word)
    {
        if (cache.TryGetValue(word, out var cached)) return cached;
        var result = ignoreMerges && vocab.TryGetValue(word, out var whole) ? [whole] : Merge(word);
        if (cache.Count < CacheLimit) cache.TryAdd(word, result);
        return result;
    }

    private int[] Merge(string word)
    {
        int n = word.Length;
        var ids = new int[n];
        for (int i = 0; i < n; i++)
            ids[i] = vocab.TryGetValue(word[i].ToString(), out var id) ? id
                : throw new InvalidOperationException($"byte symbol '{word[i]}' is not in the vocabulary of a byte-level BPE");
        if (n == 1) return ids;
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++) { next[i] = i + 1; prev[i] = i - 1; }
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
            removed[right] = true;
            next[left] = next[right];
            if (next[right] < n) prev[next[right]] = left;
            Offer(left);
            if (prev[left] >= 0) Offer(prev[left]);
        }
        var result = new List<int>();
        for (int i = 0; i < n; i = next[i]) result.Add(ids[i]);
        return result.ToArray();
    }
}

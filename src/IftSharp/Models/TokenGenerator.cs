using IftSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>
/// Autoregressive generation at the token-id level (the tokenizer and chat template live elsewhere).
/// Prompts of different lengths are left-padded into one batch; positions follow the attention mask's
/// cumulative sum as in Hugging Face, so each row decodes as it would alone.
/// </summary>
public static class TokenGenerator
{
    public static GenerationResult Generate(LlamaForCausalLM model, IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options)
    {
        if (prompts.Count == 0) return new GenerationResult([], []);
        if (prompts.Any(p => p.Count == 0)) throw new ArgumentException("every prompt needs at least one token", nameof(prompts));
        if (options.MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxNewTokens must not be negative");
        var eos = (options.EosTokenIds ?? model.Config.EosTokenIds).ToHashSet();
        int pad = options.PadTokenId ?? model.Config.PadTokenId ?? (eos.Count > 0 ? eos.Min() : 0);
        int batch = prompts.Count, promptLength = prompts.Max(p => p.Count);

        var ids = new List<long>[batch];
        var mask = new List<long>[batch];
        for (int b = 0; b < batch; b++)
        {
            int padding = promptLength - prompts[b].Count;
            ids[b] = Enumerable.Repeat((long)pad, padding).Concat(prompts[b].Select(i => (long)i)).ToList();
            mask[b] = Enumerable.Repeat(0L, padding).Concat(Enumerable.Repeat(1L, prompts[b].Count)).ToList();
        }
        var generated = Enumerable.Range(0, batch).Select(_ => new List<int>()).ToArray();
        var reasons = Enumerable.Repeat(StopReason.MaxNewTokens, batch).ToArray();
        var finished = new bool[batch];

        using var noGrad = no_grad();
        using var rng = new torch.Generator((ulong)options.Seed, model.Device);
        using var cache = options.UseCache && options.MaxNewTokens > 0
            ? model.CreateCache(batch, promptLength + options.MaxNewTokens)
            : null;
        // The prompt goes through libtorch's forward pass (matrix-matrix products); the single-token steps after it
        // through the decoder's matrix-vector kernels when the model allows them.
        using var decoder = cache is not null && options.FastDecode && options.MaxNewTokens > 1
            ? SingleTokenDecoder.TryCreate(model, cache, out _)
            : null;
        var leftPadding = prompts.Select(p => promptLength - p.Count).ToArray();
        var lastTokens = new long[batch];
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            long[] next;
            using (var scope = NewDisposeScope())
            {
                Tensor last;
                if (decoder is not null && step > 0)
                {
                    for (int b = 0; b < batch; b++) lastTokens[b] = ids[b][^1];
                    last = decoder.Step(lastTokens, leftPadding);
                }
                else
                {
                    var allMask = Rows(mask, model.Device);
                    var input = Rows(ids, model.Device);
                    if (cache is not null && step > 0) input = input.narrow(1, input.shape[1] - 1, 1);
                    last = model.Forward(input, allMask, null, cache).select(1, -1).to(float32);
                }
                // Only the repetition penalty looks at the tokens so far.
                var previous = options.RepetitionPenalty != 1.0 ? Rows(ids, model.Device) : empty(batch, 0, int64);
                next = NextTokens(last, previous, options, rng).cpu().data<long>().ToArray();
            }
            var stepTokens = new int[batch];
            for (int b = 0; b < batch; b++)
            {
                if (finished[b]) { next[b] = pad; stepTokens[b] = -1; }
                else
                {
                    int token = (int)next[b];
                    stepTokens[b] = token;
                    generated[b].Add(token);
                    if (eos.Contains(token)) { finished[b] = true; reasons[b] = StopReason.Eos; }
                    else if (options.ShouldStop?.Invoke(generated[b]) == true) { finished[b] = true; reasons[b] = StopReason.StopHook; }
                }
                ids[b].Add(next[b]);
                mask[b].Add(1);
            }
            options.OnStep?.Invoke(new GenerationStep(step, stepTokens, (bool[])finished.Clone()));
            if (finished.All(f => f)) break;
        }
        return new GenerationResult(generated, reasons);
    }

    /// <summary>
    /// The next token of each row from float32 logits [B, V] given the ids so far [B, S]: repetition penalty,
    /// then greedy argmax (temperature 0) or temperature, top-k, top-p and a draw from <paramref name="rng"/>.
    /// </summary>
    public static Tensor NextTokens(Tensor logits, Tensor previousIds, GenerationOptions options, torch.Generator rng)
    {
        using var scope = NewDisposeScope();
        var scores = logits.clone();
        if (options.RepetitionPenalty != 1.0)
        {
            var seen = scores.gather(1, previousIds);
            seen = where(seen.LessThan(0), seen.Times(options.RepetitionPenalty), seen.DividedBy(options.RepetitionPenalty));
            scores = scores.scatter(1, previousIds, seen);
        }
        if (options.Temperature <= 0)
            return scores.argmax(-1).MoveToOuterDisposeScope();
        scores = scores.DividedBy(options.Temperature);
        if (options.TopK > 0 && options.TopK < scores.shape[1])
        {
            var kth = scores.topk(options.TopK, dim: -1).values.narrow(1, options.TopK - 1, 1);
            scores = scores.MaskedFill(scores < kth, double.NegativeInfinity);
        }
        if (options.TopP < 1.0)
        {
            var (sorted, order) = scores.sort(-1, descending: false);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            var drop = cumulative.LessOrEqual(1 - options.TopP);
            drop.select(1, -1).FillInPlace(false); // always keep the most likely token
            scores = scores.MaskedFill(drop.scatter(1, order, drop), double.NegativeInfinity);
        }
        var probabilities = scores.softmax(-1);
        return probabilities.multinomial(1, generator: rng).squeeze(1).MoveToOuterDisposeScope();
    }

    private static Tensor Rows(List<long>[] rows, Device device)
    {
        int width = rows[0].Count;
        var flat = new long[rows.Length * width];
        for (int b = 0; b < rows.Length; b++) rows[b].CopyTo(flat, b * width);
        return tensor(flat, [rows.Length, width], device: device);
    }
}

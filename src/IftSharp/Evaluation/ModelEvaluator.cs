using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Tokenization;
using IftSharp.Training;
using static TorchSharp.torch;

namespace IftSharp.Evaluation;

/// <summary>
/// Scores a model on the task suite and on a user's items: exact match of greedy generations (reasoning, fact following),
/// log-likelihood choice among options (multiple choice), and perplexity of held-out text. <see cref="ModelEval"/> builds
/// on it; <c>compare</c> calls it directly.
/// </summary>
public sealed class ModelEvaluator(LlamaForCausalLM model, ITokenizer tokenizer, IChatTemplate? template, int maxLength)
{
    private int Pad => tokenizer.PadTokenId ?? tokenizer.EosTokenId ?? 0;

    /// <summary>Where generation stops: the tokenizer's end-of-sequence token and the model's <c>eos_token_id</c>s.</summary>
    public IReadOnlyList<int> StopIds { get; } =
        (tokenizer.EosTokenId is int e ? new[] { e } : []).Concat(model.Config.EosTokenIds).Distinct().ToList();

    private IChatTemplate Template => template ?? throw new InputException("the tokenizer has no chat_template");

    /// <summary>The prompt ids of a task item: the user message and the generation prompt.</summary>
    public IReadOnlyList<int> PromptIds(TaskExample item) =>
        tokenizer.Encode(Template.Render([new ChatMessage("user", item.Prompt)], addGenerationPrompt: true).Text).Ids;

    /// <summary>
    /// Greedy (or, with <paramref name="temperature"/> &gt; 0, sampled) answers to every item, in item order. Prompts
    /// are batched by length so little padding is decoded.
    /// </summary>
    public IReadOnlyList<string> Generate(IReadOnlyList<TaskExample> items, int maxNewTokens, double temperature = 0, long seed = 0,
        int batchSize = 64, Action<int>? onBatch = null) =>
        GenerateTokens(items.Select(PromptIds).ToList(), maxNewTokens, temperature, seed, batchSize, onBatch)
            .Select(Decode).ToList();

    /// <summary>The text of generated ids, special tokens (the end-of-turn marker) left out.</summary>
    public string Decode(IReadOnlyList<int> ids) => tokenizer.Decode(ids, skipSpecialTokens: true);

    /// <summary>
    /// The generated ids for every prompt, in prompt order, each stopping at a <see cref="StopIds"/> token (kept) or after
    /// <paramref name="maxNewTokens"/>. Prompts are sorted by length and decoded <paramref name="batchSize"/> at a time;
    /// batch k's sampler is seeded <c>seed + k·batchSize</c>. <paramref name="onBatch"/> gets each batch's size.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<int>> GenerateTokens(IReadOnlyList<IReadOnlyList<int>> prompts, int maxNewTokens,
        double temperature = 0, long seed = 0, int batchSize = 64, Action<int>? onBatch = null, CancellationToken cancel = default)
    {
        var outputs = new IReadOnlyList<int>[prompts.Count];
        var order = Enumerable.Range(0, prompts.Count).OrderBy(i => prompts[i].Count).ToList();
        for (int start = 0; start < order.Count; start += batchSize)
        {
            cancel.ThrowIfCancellationRequested();
            var chunk = order.Skip(start).Take(batchSize).ToList();
            var result = TokenGenerator.Generate(model, chunk.Select(i => prompts[i]).ToList(), new GenerationOptions
            {
                MaxNewTokens = maxNewTokens, Temperature = temperature, Seed = seed + start, EosTokenIds = StopIds, PadTokenId = Pad,
            });
            for (int i = 0; i < chunk.Count; i++) outputs[chunk[i]] = result.Tokens[i];
            onBatch?.Invoke(chunk.Count);
        }
        return outputs;
    }

    /// <summary>Fraction of items whose greedy generation has the right final answer.</summary>
    public double ExactMatch(IReadOnlyList<TaskExample> items, int maxNewTokens, Action<int>? onBatch = null)
    {
        var outputs = Generate(items, maxNewTokens, onBatch: onBatch);
        return items.Select((item, i) => TaskAnswers.IsCorrect(outputs[i], item) ? 1.0 : 0.0).Average();
    }

    /// <summary>
    /// Fraction of multiple-choice items whose correct option has the highest log-likelihood as the assistant's reply
    /// (summed over the reply's tokens, its end-of-turn marker included; the Leaderboard's <c>acc</c>).
    /// </summary>
    public double MultipleChoice(IReadOnlyList<TaskExample> items)
    {
        var rows = items.SelectMany(item => item.Options.Select(option => OptionRow(item, option))).ToList();
        var scores = SequenceLogLikelihoods(rows);
        int correct = 0, k = 0;
        foreach (var item in items)
        {
            var optionScores = scores.Skip(k).Take(item.Options.Count).ToList();
            if (item.Options[optionScores.IndexOf(optionScores.Max())] == item.Answer) correct++;
            k += item.Options.Count;
        }
        return (double)correct / items.Count;
    }

    /// <summary>A multiple-choice option as the assistant's reply to the item's question, only the reply's tokens labelled.</summary>
    public TrainingExample OptionRow(TaskExample item, string option) => ConversationDataset.Tokenize(
        [new ChatMessage("user", item.Prompt), new ChatMessage("assistant", MultipleChoiceTask.Completion(option))], tokenizer,
        Template, maxLength);

    /// <summary>exp of the mean negative log-likelihood per predicted token over the texts (each text's tokens after its first).</summary>
    public double Perplexity(IReadOnlyList<string> texts)
    {
        var scored = Score(TextRows(texts));
        return Math.Exp(-scored.Sum(r => r.LogLikelihood) / scored.Sum(r => r.Tokens));
    }

    /// <summary>Each text's tokens (no special tokens added), cut to the maximum length, every token labelled.</summary>
    public IReadOnlyList<TrainingExample> TextRows(IReadOnlyList<string> texts) => texts.Select(t =>
    {
        var ids = tokenizer.Encode(t).Ids.Take(maxLength).ToArray();
        return new TrainingExample(ids, ids.Select(i => (long)i).ToArray());
    }).ToList();

    /// <summary>Summed log-probability of each row's labelled tokens.</summary>
    public IReadOnlyList<double> SequenceLogLikelihoods(IReadOnlyList<TrainingExample> rows) =>
        Score(rows).Select(r => r.LogLikelihood).ToList();

    /// <summary>
    /// Each row's summed log-probability of its labelled tokens and how many there are, in row order, in no-grad batches
    /// of <paramref name="batchSize"/> rows of similar length. The head runs only where a label counts, a few hundred
    /// positions at a time, so a large vocabulary never needs the whole [B, T, V] logits.
    /// </summary>
    public IReadOnlyList<(double LogLikelihood, double Tokens)> Score(IReadOnlyList<TrainingExample> rows, int batchSize = 32,
        Action<int>? onBatch = null, CancellationToken cancel = default)
    {
        LargeAllocations.Apply(() => model.parameters().Sum(p => p.numel()));
        var result = new (double, double)[rows.Count];
        var order = Enumerable.Range(0, rows.Count).OrderBy(i => rows[i].Length).ToList();
        int chunk = TokenLogProbs.ChunkFor(model.Config.VocabSize);
        foreach (var indices in order.Chunk(batchSize))
        {
            cancel.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var batch = Batch.Collate(indices.Select(i => rows[i]).ToList(), Pad);
            var (logps, mask) = TokenLogProbs.FromModel(model, batch.InputIds, batch.AttentionMask, batch.Labels, chunk: chunk);
            var sums = logps.sum(1).to_type(ScalarType.Float64).data<double>().ToArray();
            var counts = mask.sum(1).to_type(ScalarType.Float64).data<double>().ToArray();
            for (int j = 0; j < indices.Length; j++) result[indices[j]] = (sums[j], counts[j]);
            onBatch?.Invoke(indices.Length);
        }
        return result;
    }
}

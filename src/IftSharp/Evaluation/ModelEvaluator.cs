using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Tokenization;
using IftSharp.Training;
using static TorchSharp.torch;

namespace IftSharp.Evaluation;

/// <summary>
/// Scores a chat model on the task suite: exact match of greedy generations (reasoning, fact following),
/// log-likelihood choice among options (multiple choice), and perplexity of held-out text.
/// </summary>
public sealed class ModelEvaluator(LlamaForCausalLM model, ITokenizer tokenizer, IChatTemplate template, int maxLength)
{
    private int Pad => tokenizer.PadTokenId ?? tokenizer.EosTokenId ?? 0;

    /// <summary>The prompt ids of a task item: the user message and the generation prompt.</summary>
    public IReadOnlyList<int> PromptIds(TaskExample item) =>
        tokenizer.Encode(template.Render([new ChatMessage("user", item.Prompt)], addGenerationPrompt: true).Text).Ids;

    /// <summary>
    /// Greedy (or, with <paramref name="temperature"/> &gt; 0, sampled) answers to every item, in item order. Prompts
    /// are batched by length so little padding is decoded.
    /// </summary>
    public IReadOnlyList<string> Generate(IReadOnlyList<TaskExample> items, int maxNewTokens, double temperature = 0, long seed = 0,
        int batchSize = 64, Action<int>? onBatch = null)
    {
        var outputs = new string[items.Count];
        var order = Enumerable.Range(0, items.Count).Select(i => (Index: i, Ids: PromptIds(items[i]))).OrderBy(x => x.Ids.Count).ToList();
        var eos = tokenizer.EosTokenId is int e ? new[] { e } : null;
        for (int start = 0; start < order.Count; start += batchSize)
        {
            var chunk = order.Skip(start).Take(batchSize).ToList();
            var result = TokenGenerator.Generate(model, chunk.Select(c => c.Ids).ToList(), new GenerationOptions
            {
                MaxNewTokens = maxNewTokens, Temperature = temperature, Seed = seed + start, EosTokenIds = eos, PadTokenId = Pad,
            });
            for (int i = 0; i < chunk.Count; i++) outputs[chunk[i].Index] = tokenizer.Decode(result.Tokens[i], skipSpecialTokens: true);
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
        var rows = items.SelectMany(item => item.Options.Select(option => ConversationDataset.Tokenize(
            [new ChatMessage("user", item.Prompt), new ChatMessage("assistant", MultipleChoiceTask.Completion(option))], tokenizer, template, maxLength))).ToList();
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

    /// <summary>exp of the mean negative log-likelihood per predicted token over the texts (each text's tokens after its first).</summary>
    public double Perplexity(IReadOnlyList<string> texts)
    {
        var rows = texts.Select(t =>
        {
            var ids = tokenizer.Encode(t).Ids.Take(maxLength).ToArray();
            return new TrainingExample(ids, ids.Select(i => (long)i).ToArray());
        }).ToList();
        var scored = Score(rows);
        return Math.Exp(-scored.Sum(r => r.LogLikelihood) / scored.Sum(r => r.Tokens));
    }

    /// <summary>Summed log-probability of each row's labelled tokens.</summary>
    public IReadOnlyList<double> SequenceLogLikelihoods(IReadOnlyList<TrainingExample> rows) => Score(rows).Select(r => r.LogLikelihood).ToList();

    /// <summary>Each row's summed log-probability of its labelled tokens and how many there are, in no-grad batches of 32.</summary>
    private List<(double LogLikelihood, double Tokens)> Score(IReadOnlyList<TrainingExample> rows)
    {
        LargeAllocations.KeepPagesAcrossSteps();
        var result = new List<(double, double)>(rows.Count);
        foreach (var chunk in rows.Chunk(32))
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var batch = Batch.Collate(chunk, Pad);
            var (logps, mask) = TokenLogProbs.Gather(model.Forward(batch.InputIds, batch.AttentionMask), batch.Labels);
            var sums = (logps * mask).sum(1).to_type(ScalarType.Float64).data<double>().ToArray();
            var counts = mask.sum(1).to_type(ScalarType.Float64).data<double>().ToArray();
            result.AddRange(sums.Zip(counts));
        }
        return result;
    }
}

using System.Text.Json;
using IftSharp.Core;
using IftSharp.Tokenization;

namespace IftSharp.Data;

/// <summary>
/// A preference pair, tokenised: the prompt followed by the chosen, and by the rejected, completion; labels on the completions only.
/// </summary>
public sealed record PreferenceExample(TrainingExample Chosen, TrainingExample Rejected);

/// <summary>
/// Preference datasets in TRL's shapes (JSONL or Parquet, see <see cref="DatasetRows"/>): <c>prompt</c>, <c>chosen</c>,
/// <c>rejected</c> as strings (TRL's standard form: no chat template, EOS after each completion) or as message lists (a
/// string beside message lists becomes one user or assistant message), or the implicit-prompt form without
/// <c>prompt</c>, where <c>chosen</c> and <c>rejected</c> are whole conversations and the prompt is the messages they
/// share at the start (TRL's extract_prompt). Each side is tokenised with TRL's DPO rule: the prompt rendered with the
/// generation prompt, and what follows it (<see cref="ConversationDataset.TokenizePromptCompletion"/> with
/// <see cref="PromptJoin.PromptIdsThenRest"/>). Pairs whose two sides come out identical are counted and reported through
/// <see cref="DatasetReadOptions.Warn"/>: they train with zero gradient.
/// </summary>
public static class PreferenceDataset
{
    public static IReadOnlyList<PreferenceExample> Read(string path, ITokenizer tokenizer, IChatTemplate template, int maxLength,
        int? maxPromptLength = null) =>
        Read(path, tokenizer, template, new DatasetReadOptions(maxLength) { MaxPromptLength = maxPromptLength });

    public static IReadOnlyList<PreferenceExample> Read(string path, ITokenizer tokenizer, IChatTemplate? template,
        DatasetReadOptions options)
    {
        var pairs = new List<PreferenceExample>();
        var warnings = new DatasetWarnings(path, options.Warn);
        foreach (var (line, row) in DatasetRows.Read(path, options.AllowInvalidUtf8))
        {
            var context = new RowContext(path, line) { Arguments = DatasetMessages.Arguments(row, path, line), Warnings = warnings };
            var chosen = Field(row, "chosen", path, line);
            var rejected = Field(row, "rejected", path, line);
            TextOrMessages prompt;
            if (row.TryGetProperty("prompt", out var p)) prompt = DatasetMessages.Field(p, path, line, "prompt");
            else
            {
                if (!chosen.IsConversational || !rejected.IsConversational)
                    throw InputException.At(path, line, "prompt",
                        "missing; expected a \"prompt\" field, or chosen and rejected as conversations that start alike");
                var (c, r) = (chosen.Messages!, rejected.Messages!);
                int shared = 0;
                while (shared < Math.Min(c.Count, r.Count) - 1 && c[shared] == r[shared]) shared++;
                if (shared == 0)
                    throw InputException.At(path, line, "prompt", "missing, and chosen/rejected share no prompt prefix; " +
                        "expected a \"prompt\" field or conversations that start alike");
                prompt = TextOrMessages.FromMessages(c.Take(shared).ToList());
                chosen = TextOrMessages.FromMessages(c.Skip(shared).ToList());
                rejected = TextOrMessages.FromMessages(r.Skip(shared).ToList());
            }
            var pair = new PreferenceExample(
                ConversationDataset.TokenizePromptCompletion(prompt, chosen, tokenizer, template, options, context,
                    PromptJoin.PromptIdsThenRest, "chosen"),
                ConversationDataset.TokenizePromptCompletion(prompt, rejected, tokenizer, template, options, context,
                    PromptJoin.PromptIdsThenRest, "rejected"));
            if (pair.Chosen.InputIds.SequenceEqual(pair.Rejected.InputIds) && pair.Chosen.Labels.SequenceEqual(pair.Rejected.Labels))
                warnings.Add(DatasetWarnings.IdenticalPair, line);
            pairs.Add(pair);
        }
        warnings.Flush();
        if (pairs.Count == 0) throw new InputException($"{path}: no examples");
        return pairs;
    }

    private static TextOrMessages Field(JsonElement row, string field, string path, int line) =>
        row.TryGetProperty(field, out var value) ? DatasetMessages.Field(value, path, line, field)
            : throw InputException.At(path, line, field, "missing");
}

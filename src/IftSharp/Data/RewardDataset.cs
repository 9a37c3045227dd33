using System.Text.Json;
using IftSharp.Core;
using IftSharp.Tokenization;

namespace IftSharp.Data;

/// <summary>K completions of one prompt with their scalar rewards, tokenised (labels on each completion).</summary>
public sealed record RewardGroup(IReadOnlyList<TrainingExample> Completions, IReadOnlyList<double> Rewards);

/// <summary>
/// K-sample reward data for EXO's reward form, one JSON object per line: <c>prompt</c> (string or message list),
/// <c>completions</c> (K strings or K message lists) and <c>rewards</c> (K numbers). Every line must have the same K ≥ 2.
/// Each completion is tokenised as a preference side is (TRL's DPO rule, <see cref="PreferenceDataset"/>): strings in
/// TRL's standard form, message lists through the chat template.
/// </summary>
public static class RewardDataset
{
    public static IReadOnlyList<RewardGroup> Read(string path, ITokenizer tokenizer, IChatTemplate template, int maxLength,
        int? maxPromptLength = null) =>
        Read(path, tokenizer, template, new DatasetReadOptions(maxLength) { MaxPromptLength = maxPromptLength });

    public static IReadOnlyList<RewardGroup> Read(string path, ITokenizer tokenizer, IChatTemplate? template, DatasetReadOptions options)
    {
        var groups = new List<RewardGroup>();
        var warnings = new DatasetWarnings(path, options.Warn);
        int? k = null;
        foreach (var (line, row) in DatasetRows.Read(path, options.AllowInvalidUtf8))
        {
            if (!row.TryGetProperty("prompt", out var promptField)) throw InputException.At(path, line, "prompt", "missing");
            var prompt = DatasetMessages.Field(promptField, path, line, "prompt");
            if (!row.TryGetProperty("completions", out var completions) || completions.ValueKind != JsonValueKind.Array)
                throw InputException.At(path, line, "completions", "expected a list of completions");
            if (!row.TryGetProperty("rewards", out var rewards) || rewards.ValueKind != JsonValueKind.Array
                || rewards.EnumerateArray().Any(r => r.ValueKind != JsonValueKind.Number))
                throw InputException.At(path, line, "rewards", "expected a list of numbers, one per completion");
            int count = completions.GetArrayLength();
            if (rewards.GetArrayLength() != count)
                throw InputException.At(path, line, "rewards",
                    $"{rewards.GetArrayLength()} rewards for {count} completions; expected one per completion");
            if (count < 2) throw InputException.At(path, line, "completions", "expected at least 2 completions to compare");
            if (k is int expected && count != expected)
                throw InputException.At(path, line, "completions",
                    $"{count} completions; expected {expected} like the first line (groups must have the same size)");
            k = count;
            var context = new RowContext(path, line) { Arguments = DatasetMessages.Arguments(row, path, line), Warnings = warnings };
            var tokenised = completions.EnumerateArray().Select((c, i) => ConversationDataset.TokenizePromptCompletion(prompt,
                DatasetMessages.Field(c, path, line,
                    $"completions[{i}]"), tokenizer, template, options, context, PromptJoin.PromptIdsThenRest,
                $"completions[{i}]")).ToList();
            groups.Add(new RewardGroup(tokenised, rewards.EnumerateArray().Select(r => r.GetDouble()).ToList()));
        }
        warnings.Flush();
        if (groups.Count == 0) throw new InputException($"{path}: no examples");
        return groups;
    }
}

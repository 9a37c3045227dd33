using System.Text.Json;
using IftSharp.Core;
using IftSharp.Tokenization;

namespace IftSharp.Data;

/// <summary>One completion of a prompt, tokenised (labels on the completion), and whether it is desirable.</summary>
public sealed record UnpairedExample(TrainingExample Example, bool Desirable)
{
    /// <summary>Where the completion starts: the first labelled position.</summary>
    public int PromptLength => Math.Max(0, Array.FindIndex(Example.Labels, l => l != Objectives.TokenLogProbs.IgnoreIndex));
}

/// <summary>
/// Unpaired preference data in TRL's shape (KTO's): <c>prompt</c>, <c>completion</c> and a boolean <c>label</c>
/// (true: desirable) per row; prompt and completion as strings or message lists, tokenised as TRL's KTOTrainer does —
/// the prompt rendered with the generation prompt, then what follows it (as a preference side).
/// JSONL or Parquet (see <see cref="DatasetRows"/>).
/// </summary>
public static class UnpairedDataset
{
    public static IReadOnlyList<UnpairedExample> Read(string path, ITokenizer tokenizer, IChatTemplate? template, int maxLength,
        int? maxPromptLength = null) =>
        Read(path, tokenizer, template, new DatasetReadOptions(maxLength) { MaxPromptLength = maxPromptLength });

    public static IReadOnlyList<UnpairedExample> Read(string path, ITokenizer tokenizer, IChatTemplate? template,
        DatasetReadOptions options)
    {
        var examples = new List<UnpairedExample>();
        var warnings = new DatasetWarnings(path, options.Warn);
        foreach (var (line, row) in DatasetRows.Read(path, options.AllowInvalidUtf8))
        {
            if (!row.TryGetProperty("label", out var label) || label.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                throw InputException.At(path, line, "label", "expected true (desirable) or false (undesirable)");
            var context = new RowContext(path, line) { Arguments = DatasetMessages.Arguments(row, path, line), Warnings = warnings };
            var prompt = DatasetMessages.Field(Field(row, "prompt", path, line), path, line, "prompt");
            var completion = DatasetMessages.Field(Field(row, "completion", path, line), path, line, "completion");
            var example = ConversationDataset.TokenizePromptCompletion(prompt, completion, tokenizer, template, options, context,
                PromptJoin.PromptIdsThenRest);
            examples.Add(new UnpairedExample(example, label.GetBoolean()));
        }
        warnings.Flush();
        if (examples.Count == 0) throw new InputException($"{path}: no examples");
        return examples;
    }

    private static JsonElement Field(JsonElement row, string field, string path, int line) =>
        row.TryGetProperty(field, out var value) ? value : throw InputException.At(path, line, field, "missing");
}

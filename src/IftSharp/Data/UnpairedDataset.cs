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
/// (true: desirable) per row, the prompt and completion as strings (no chat template: prompt + completion + EOS) or
/// as message lists (the chat template, as for preference pairs). JSONL or Parquet (see <see cref="DatasetRows"/>).
/// </summary>
public static class UnpairedDataset
{
    public static IReadOnlyList<UnpairedExample> Read(string path, ITokenizer tokenizer, IChatTemplate? template, int maxLength,
        int? maxPromptLength = null, string templateSource = "tokenizer_config.json")
    {
        var examples = new List<UnpairedExample>();
        foreach (var (line, row) in DatasetRows.Read(path))
        {
            if (row.ValueKind != JsonValueKind.Object) throw InputException.At(path, line, null, "expected an object with prompt, completion and label");
            if (!row.TryGetProperty("label", out var label) || label.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                throw InputException.At(path, line, "label", "expected true (desirable) or false (undesirable)");
            if (!row.TryGetProperty("prompt", out var prompt)) throw InputException.At(path, line, "prompt", "missing");
            if (!row.TryGetProperty("completion", out var completion)) throw InputException.At(path, line, "completion", "missing");
            TrainingExample example;
            if (prompt.ValueKind == JsonValueKind.String && completion.ValueKind == JsonValueKind.String)
            {
                if (completion.GetString()!.Length == 0) throw InputException.At(path, line, "completion", "empty; expected the completion text");
                example = ConversationDataset.TokenizePlain(prompt.GetString()!, completion.GetString()!, tokenizer, maxLength, path, line, maxPromptLength);
            }
            else
            {
                var chat = template ?? throw InputException.At(path, line, null, $"conversational rows need the chat_template of {templateSource}");
                var p = ConversationDataset.Turns(prompt, "user", path, line, "prompt");
                var c = ConversationDataset.Turns(completion, "assistant", path, line, "completion");
                if (c.Count == 0 || c[0].Role != "assistant" || c.Any(m => m.Content.Length == 0))
                    throw InputException.At(path, line, "completion", "expected a non-empty assistant completion");
                example = ConversationDataset.Tokenize([.. p, .. c], tokenizer, chat, maxLength, source: path, line: line,
                    skipAssistantTurns: p.Count(m => m.Role == "assistant"), maxPromptLength: maxPromptLength);
            }
            examples.Add(new UnpairedExample(example, label.GetBoolean()));
        }
        if (examples.Count == 0) throw new InputException($"{path}: no examples");
        return examples;
    }
}

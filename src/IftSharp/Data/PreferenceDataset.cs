using System.Text.Json;
using IftSharp.Core;
using IftSharp.Tokenization;

namespace IftSharp.Data;

/// <summary>A preference pair, tokenised: the prompt followed by the chosen, and by the rejected, completion; labels on the completions only.</summary>
public sealed record PreferenceExample(TrainingExample Chosen, TrainingExample Rejected);

/// <summary>
/// Preference datasets in TRL's shapes (JSONL or Parquet, see <see cref="DatasetRows"/>): <c>prompt</c>, <c>chosen</c>, <c>rejected</c> as strings
/// (the prompt becomes one user message, each completion one assistant message) or as message lists, or the implicit-prompt
/// form without <c>prompt</c>, where <c>chosen</c> and <c>rejected</c> are whole conversations sharing the prompt as a prefix.
/// </summary>
public static class PreferenceDataset
{
    public static IReadOnlyList<PreferenceExample> Read(string path, ITokenizer tokenizer, IChatTemplate template, int maxLength, int? maxPromptLength = null)
    {
        var pairs = new List<PreferenceExample>();
        foreach (var (line, row) in DatasetRows.Read(path))
        {
            if (row.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String
                && row.TryGetProperty("chosen", out var c) && c.ValueKind == JsonValueKind.String
                && row.TryGetProperty("rejected", out var r) && r.ValueKind == JsonValueKind.String)
            {
                // TRL's standard (non-conversational) form: no chat template, prompt + completion + EOS.
                foreach (var (name, text) in new[] { ("chosen", c), ("rejected", r) })
                    if (text.GetString()!.Length == 0) throw InputException.At(path, line, name, "expected a non-empty assistant completion");
                pairs.Add(new PreferenceExample(ConversationDataset.TokenizePlain(p.GetString()!, c.GetString()!, tokenizer, maxLength, path, line, maxPromptLength),
                                                ConversationDataset.TokenizePlain(p.GetString()!, r.GetString()!, tokenizer, maxLength, path, line, maxPromptLength)));
                continue;
            }
            var chosen = Messages(row, "chosen", "assistant", path, line);
            var rejected = Messages(row, "rejected", "assistant", path, line);
            List<ChatMessage> prompt;
            if (row.TryGetProperty("prompt", out _)) prompt = Messages(row, "prompt", "user", path, line);
            else
            {
                int shared = 0;
                while (shared < Math.Min(chosen.Count, rejected.Count) - 1 && chosen[shared] == rejected[shared]) shared++;
                if (shared == 0) throw InputException.At(path, line, "prompt", "missing, and chosen/rejected share no prompt prefix; expected a \"prompt\" field or conversations that start alike");
                prompt = chosen.Take(shared).ToList();
                chosen = chosen.Skip(shared).ToList();
                rejected = rejected.Skip(shared).ToList();
            }
            foreach (var (name, completion) in new[] { ("chosen", chosen), ("rejected", rejected) })
                if (completion.Count == 0 || completion[0].Role != "assistant" || completion.Any(m => m.Text.Length == 0))
                    throw InputException.At(path, line, name, "expected a non-empty assistant completion");
            int history = prompt.Count(m => m.Role == "assistant");
            pairs.Add(new PreferenceExample(
                ConversationDataset.Tokenize([.. prompt, .. chosen], tokenizer, template, maxLength, source: path, line: line, skipAssistantTurns: history, maxPromptLength: maxPromptLength),
                ConversationDataset.Tokenize([.. prompt, .. rejected], tokenizer, template, maxLength, source: path, line: line, skipAssistantTurns: history, maxPromptLength: maxPromptLength)));
        }
        if (pairs.Count == 0) throw new InputException($"{path}: no examples");
        return pairs;
    }

    private static List<ChatMessage> Messages(JsonElement row, string field, string stringRole, string path, int line) =>
        row.TryGetProperty(field, out var value) ? ConversationDataset.Turns(value, stringRole, path, line, field)
            : throw InputException.At(path, line, field, "missing");

}

using System.Text.Json;
using IftSharp.Core;
using IftSharp.Objectives;
using IftSharp.Tokenization;

namespace IftSharp.Data;

/// <summary>A tokenised training example: ids and unshifted labels (-100 where no loss is taken).</summary>
public sealed record TrainingExample(int[] InputIds, long[] Labels)
{
    public int Length => InputIds.Length;
}

/// <summary>
/// Conversational datasets in TRL's <c>messages</c> shape (one JSON object per line:
/// <c>{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}</c>).
/// </summary>
public static class ConversationDataset
{
    /// <summary>Reads a JSONL file; a malformed line, a missing or mistyped field gets an <see cref="InputException"/> naming file, line and field.</summary>
    public static IReadOnlyList<IReadOnlyList<ChatMessage>> ReadJsonl(string path)
    {
        if (!File.Exists(path)) throw new InputException($"{path}: file not found");
        var conversations = new List<IReadOnlyList<ChatMessage>>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement root;
            try { root = JsonDocument.Parse(line).RootElement; }
            catch (JsonException e) { throw InputException.At(path, lineNumber, null, $"malformed JSON ({e.Message})"); }
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out var messages))
                throw InputException.At(path, lineNumber, "messages", "missing; expected a list of {\"role\", \"content\"} objects");
            if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
                throw InputException.At(path, lineNumber, "messages", "expected a non-empty list of {\"role\", \"content\"} objects");
            var conversation = new List<ChatMessage>();
            int index = 0;
            foreach (var m in messages.EnumerateArray())
            {
                string field = $"messages[{index}]";
                if (m.ValueKind != JsonValueKind.Object) throw InputException.At(path, lineNumber, field, "expected an object with \"role\" and \"content\"");
                if (!m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                    throw InputException.At(path, lineNumber, field + ".role", "missing; expected \"system\", \"user\" or \"assistant\"");
                if (role.GetString() is not ("system" or "user" or "assistant"))
                    throw InputException.At(path, lineNumber, field + ".role", $"'{role.GetString()}'; expected \"system\", \"user\" or \"assistant\"");
                if (!m.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                    throw InputException.At(path, lineNumber, field + ".content", "missing; expected a string");
                if (role.GetString() == "assistant" && content.GetString()!.Length == 0)
                    throw InputException.At(path, lineNumber, field + ".content", "empty assistant message; expected the completion text");
                conversation.Add(new ChatMessage(role.GetString()!, content.GetString()!));
                index++;
            }
            if (!conversation.Any(c => c.Role == "assistant"))
                throw InputException.At(path, lineNumber, "messages", "no assistant message; expected at least one to train on");
            conversations.Add(conversation);
        }
        if (conversations.Count == 0) throw new InputException($"{path}: no examples");
        return conversations;
    }

    /// <summary>
    /// Renders the conversation with the chat template and tokenises it; tokens whose characters fall inside an
    /// assistant span are labelled (completion-only loss), the rest get -100 unless <paramref name="completionOnly"/>
    /// is false. Longer conversations are truncated on the right to <paramref name="maxLength"/>; one with no
    /// labelled token left is an error.
    /// </summary>
    /// <param name="skipAssistantTurns">Assistant turns at the start that stay unlabelled (a preference pair's prompt history).</param>
    public static TrainingExample Tokenize(IReadOnlyList<ChatMessage> conversation, ITokenizer tokenizer, IChatTemplate template,
        int maxLength, bool completionOnly = true, string source = "dataset", int line = 0, int skipAssistantTurns = 0)
    {
        var rendered = template.Render(conversation);
        var spans = rendered.AssistantSpans.Skip(skipAssistantTurns).ToList();
        var tokens = tokenizer.Encode(rendered.Text);
        int n = Math.Min(tokens.Ids.Count, maxLength);
        var ids = new int[n];
        var labels = new long[n];
        for (int i = 0; i < n; i++)
        {
            ids[i] = tokens.Ids[i];
            var (start, end) = tokens.Offsets[i];
            bool assistant = spans.Any(s => start >= s.Start && end <= s.End);
            labels[i] = assistant || !completionOnly ? ids[i] : TokenLogProbs.IgnoreIndex;
        }
        if (labels.Skip(1).All(l => l == TokenLogProbs.IgnoreIndex))
            throw InputException.At(source, line, "messages", $"the prompt fills max_length ({maxLength} tokens): no completion token left to train on");
        return new TrainingExample(ids, labels);
    }
}

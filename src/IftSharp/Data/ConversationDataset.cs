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
    /// <summary>
    /// Single-target training examples from a JSONL file in any of TRL's shapes, detected per line: conversational
    /// (<c>messages</c>), prompt-completion (<c>prompt</c> and <c>completion</c>, strings — rendered as a user and an
    /// assistant turn — or message lists), or language modeling (<c>text</c>: the whole text plus EOS is learned, no
    /// chat template).
    /// </summary>
    public static IReadOnlyList<TrainingExample> ReadExamples(string path, ITokenizer tokenizer, IChatTemplate? template, int maxLength, int? maxPromptLength = null)
    {
        var examples = new List<TrainingExample>();
        foreach (var (lineNumber, root) in DatasetRows.Read(path))
        {
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("text", out var text) && !root.TryGetProperty("messages", out _))
            {
                if (text.ValueKind != JsonValueKind.String || text.GetString()!.Length == 0) throw InputException.At(path, lineNumber, "text", "expected a non-empty string");
                var ids = tokenizer.Encode(text.GetString()!, addSpecialTokens: true).Ids.ToList();
                if (tokenizer.EosTokenId is int eos) ids.Add(eos);
                var kept = ids.Take(maxLength).ToArray();
                examples.Add(new TrainingExample(kept, kept.Select(i => (long)i).ToArray()));
                continue;
            }
            List<ChatMessage> conversation;
            int skip = 0;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("prompt", out var prompt) && root.TryGetProperty("completion", out var completion)
                && prompt.ValueKind == JsonValueKind.String && completion.ValueKind == JsonValueKind.String)
            {
                if (completion.GetString()!.Length == 0) throw InputException.At(path, lineNumber, "completion", "empty; expected the completion text");
                examples.Add(TokenizePlain(prompt.GetString()!, completion.GetString()!, tokenizer, maxLength, path, lineNumber, maxPromptLength));
                continue;
            }
            var chatTemplate = template ?? throw InputException.At(path, lineNumber, null, "conversational data needs the tokenizer's chat_template");
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("prompt", out prompt) && root.TryGetProperty("completion", out completion))
            {
                var p = Turns(prompt, "user", path, lineNumber, "prompt");
                var c = Turns(completion, "assistant", path, lineNumber, "completion");
                if (c.Count == 0 || c[0].Role != "assistant" || c.Any(m => m.Text.Length == 0))
                    throw InputException.At(path, lineNumber, "completion", "expected a non-empty assistant completion");
                skip = p.Count(m => m.Role == "assistant");
                conversation = [.. p, .. c];
            }
            else conversation = Conversation(root, path, lineNumber);
            examples.Add(Tokenize(conversation, tokenizer, chatTemplate, maxLength, source: path, line: lineNumber, skipAssistantTurns: skip, maxPromptLength: maxPromptLength));
        }
        if (examples.Count == 0) throw new InputException($"{path}: no examples");
        return examples;
    }

    /// <summary>
    /// TRL's standard (non-conversational) prompt-completion: no chat template; the ids of the prompt (with the tokenizer's
    /// special tokens, e.g. BOS), then of the completion and EOS, which alone are labelled. A prompt that leaves no room
    /// for the completion within <paramref name="maxLength"/> is an error.
    /// </summary>
    public static TrainingExample TokenizePlain(string prompt, string completion, ITokenizer tokenizer, int maxLength, string source, int line,
        int? maxPromptLength = null)
    {
        var promptIds = tokenizer.Encode(prompt, addSpecialTokens: true).Ids;
        var completionIds = tokenizer.Encode(completion).Ids.ToList();
        if (tokenizer.EosTokenId is int eos) completionIds.Add(eos);
        var ids = promptIds.Concat(completionIds).ToArray();
        var labels = ids.Select((id, i) => i < promptIds.Count ? Objectives.TokenLogProbs.IgnoreIndex : id).ToArray();
        return Truncate(new TrainingExample(ids, labels), maxLength, maxPromptLength, source, line, "prompt");
    }

    /// <summary>
    /// The truncation policy, TRL's: the prompt (the tokens before the first labelled one) keeps its last
    /// <paramref name="maxPromptLength"/> tokens, then the whole sequence keeps its first <paramref name="maxLength"/>.
    /// An example left with no labelled token to predict is an error.
    /// </summary>
    public static TrainingExample Truncate(TrainingExample example, int maxLength, int? maxPromptLength, string source, int line, string field)
    {
        int firstLabel = Array.FindIndex(example.Labels, l => l != Objectives.TokenLogProbs.IgnoreIndex);
        if (firstLabel < 0) throw InputException.At(source, line, field, "nothing to train on: no completion token");
        int drop = maxPromptLength is int p && firstLabel > p ? firstLabel - p : 0;
        int keep = Math.Min(example.Length - drop, maxLength);
        var ids = example.InputIds.Skip(drop).Take(keep).ToArray();
        var labels = example.Labels.Skip(drop).Take(keep).ToArray();
        if (labels.Skip(1).All(l => l == Objectives.TokenLogProbs.IgnoreIndex))
            throw InputException.At(source, line, field, $"the prompt fills max_length ({maxLength} tokens): no completion token left to train on");
        return new TrainingExample(ids, labels);
    }

    /// <summary>A field that is a string (one message of <paramref name="stringRole"/>) or a list of messages.</summary>
    internal static List<ChatMessage> Turns(JsonElement value, string stringRole, string path, int line, string field)
    {
        if (value.ValueKind == JsonValueKind.String) return [new ChatMessage(stringRole, value.GetString()!)];
        if (value.ValueKind != JsonValueKind.Array) throw InputException.At(path, line, field, "expected a string or a list of {\"role\", \"content\"} messages");
        return Messages(value, path, line, field);
    }

    /// <summary>Reads a JSONL file; a malformed line, a missing or mistyped field gets an <see cref="InputException"/> naming file, line and field.</summary>
    public static IReadOnlyList<IReadOnlyList<ChatMessage>> ReadConversations(string path)
    {
        var conversations = new List<IReadOnlyList<ChatMessage>>();
        foreach (var (lineNumber, root) in DatasetRows.Read(path))
        {
            var conversation = Conversation(root, path, lineNumber);
            conversations.Add(conversation);
        }
        if (conversations.Count == 0) throw new InputException($"{path}: no examples");
        return conversations;
    }

    private static List<ChatMessage> Conversation(JsonElement root, string path, int lineNumber)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out var messages))
            throw InputException.At(path, lineNumber, "messages", "missing; expected a list of {\"role\", \"content\"} objects (or prompt/completion, or text)");
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw InputException.At(path, lineNumber, "messages", "expected a non-empty list of {\"role\", \"content\"} objects");
        var conversation = Messages(messages, path, lineNumber, "messages");
        if (!conversation.Any(c => c.Role == "assistant"))
            throw InputException.At(path, lineNumber, "messages", "no assistant message; expected at least one to train on");
        return conversation;
    }

    private static List<ChatMessage> Messages(JsonElement array, string path, int lineNumber, string fieldName)
    {
        var conversation = new List<ChatMessage>();
        int index = 0;
        foreach (var m in array.EnumerateArray())
        {
            string field = $"{fieldName}[{index}]";
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
        return conversation;
    }

    /// <summary>
    /// Renders the conversation with the chat template and tokenises it; tokens whose characters fall inside an
    /// assistant span are labelled (completion-only loss), the rest get -100 unless <paramref name="completionOnly"/>
    /// is false. Longer conversations are truncated on the right to <paramref name="maxLength"/>; one with no
    /// labelled token left is an error.
    /// </summary>
    /// <param name="skipAssistantTurns">Assistant turns at the start that stay unlabelled (a preference pair's prompt history).</param>
    public static TrainingExample Tokenize(IReadOnlyList<ChatMessage> conversation, ITokenizer tokenizer, IChatTemplate template,
        int maxLength, bool completionOnly = true, string source = "dataset", int line = 0, int skipAssistantTurns = 0, int? maxPromptLength = null)
    {
        var rendered = template.Render(conversation);
        var spans = rendered.AssistantSpans.Skip(skipAssistantTurns).ToList();
        var tokens = tokenizer.Encode(rendered.Text);
        int n = tokens.Ids.Count;
        var ids = new int[n];
        var labels = new long[n];
        for (int i = 0; i < n; i++)
        {
            ids[i] = tokens.Ids[i];
            var (start, end) = tokens.Offsets[i];
            bool assistant = spans.Any(s => start >= s.Start && end <= s.End);
            labels[i] = assistant || !completionOnly ? ids[i] : TokenLogProbs.IgnoreIndex;
        }
        return Truncate(new TrainingExample(ids, labels), maxLength, maxPromptLength, source, line, "messages");
    }
}

using System.Text.Json;
using IftSharp.Core;
using IftSharp.Objectives;
using IftSharp.Tokenization;

namespace IftSharp.Data;

/// <summary>
/// Single-target datasets in TRL's shapes (one JSON object per line), tokenised with TRL's loss masks:
/// <list type="bullet">
/// <item>prompt-completion (<c>prompt</c>, <c>completion</c>): TRL's SFTTrainer rule, see <see cref="TokenizePromptCompletion"/>;</item>
/// <item>conversational (<c>messages</c>): the loss on the assistant turns, see <c>Tokenize</c>;</item>
/// <item>language modeling (<c>text</c>): the text and EOS, every token learned, no chat template.</item>
/// </list>
/// A row's <c>tools</c> and <c>chat_template_kwargs</c> reach the chat template as TRL passes them.
/// </summary>
public static class ConversationDataset
{
    /// <summary>Single-target training examples from a JSONL (or Parquet) file in any of TRL's shapes, detected per row.</summary>
    public static IReadOnlyList<TrainingExample> ReadExamples(string path, ITokenizer tokenizer, IChatTemplate? template, int maxLength,
        int? maxPromptLength = null) =>
        ReadExamples(path, tokenizer, template, new DatasetReadOptions(maxLength) { MaxPromptLength = maxPromptLength });

    public static IReadOnlyList<TrainingExample> ReadExamples(string path, ITokenizer tokenizer, IChatTemplate? template,
        DatasetReadOptions options)
    {
        var examples = new List<TrainingExample>();
        var warnings = new DatasetWarnings(path, options.Warn);
        foreach (var (line, root) in DatasetRows.Read(path, options.AllowInvalidUtf8))
        {
            var row = new RowContext(path, line) { Arguments = DatasetMessages.Arguments(root, path, line), Warnings = warnings };
            bool hasMessages = root.TryGetProperty("messages", out _);
            bool hasPrompt = root.TryGetProperty("prompt", out var prompt);
            if (root.TryGetProperty("text", out var text) && !hasMessages && !hasPrompt)
            {
                if (text.ValueKind != JsonValueKind.String || text.GetString()!.Length == 0)
                {
                    var got = text.ValueKind == JsonValueKind.String ? "an empty one" : DatasetMessages.Kind(text);
                    throw InputException.At(path, line, "text", $"expected a non-empty string; got {got}");
                }
                examples.Add(TokenizeText(text.GetString()!, tokenizer, options.MaxLength));
                continue;
            }
            if (hasPrompt && !hasMessages)
            {
                if (!root.TryGetProperty("completion", out var completion))
                    throw InputException.At(path, line, "completion", "missing; a row with a prompt needs its completion");
                examples.Add(TokenizePromptCompletion(DatasetMessages.Field(prompt, path, line, "prompt"),
                    DatasetMessages.Field(completion, path, line, "completion"), tokenizer, template, options, row));
                continue;
            }
            var chatTemplate = template ?? throw InputException.At(path, line, null,
                "conversational data needs the tokenizer's chat_template");
            examples.Add(Tokenize(Conversation(root, path, line), tokenizer, chatTemplate, options, row));
        }
        warnings.Flush();
        if (examples.Count == 0) throw new InputException($"{path}: no examples");
        return examples;
    }

    /// <summary>
    /// TRL's language modeling rows: the text with EOS appended unless it already ends with it, tokenised with the
    /// tokenizer's special tokens (e.g. BOS), every token labelled, cut on the right to <paramref name="maxLength"/>.
    /// </summary>
    public static TrainingExample TokenizeText(string text, ITokenizer tokenizer, int maxLength)
    {
        var ids = tokenizer.Encode(WithEos(text, tokenizer), addSpecialTokens: true).Ids.Take(maxLength).ToArray();
        return new TrainingExample(ids, ids.Select(i => (long)i).ToArray());
    }

    private static string WithEos(string text, ITokenizer tokenizer) =>
        tokenizer.EosToken is { Length: > 0 } eos && !text.EndsWith(eos, StringComparison.Ordinal) ? text + eos : text;

    /// <summary>
    /// One prompt-completion row with TRL's mask (trl/trainer/sft_trainer.py and dpo_trainer.py). Conversational
    /// (message lists): <c>prompt_ids = tokens(render(prompt, add_generation_prompt=True))</c> and
    /// <c>full_ids = tokens(render(prompt + completion))</c>, both with the row's tools and template arguments and no
    /// extra special tokens (the template writes them); so everything after the generation prompt is learned, including
    /// what the template writes around the completion (Qwen3's empty <c>&lt;think&gt;</c> block, the newline after
    /// <c>&lt;|im_end|&gt;</c>). Standard (strings): <c>prompt_ids = tokens(prompt)</c> and
    /// <c>full_ids = tokens(prompt + completion + eos)</c> (EOS added unless the completion ends with it) with the
    /// tokenizer's special tokens. The labels are -100 on the first <c>len(prompt_ids)</c> tokens and the ids after them;
    /// a row whose prompt ids are not a prefix of the full ids is counted in <see cref="RowContext.Warnings"/> (TRL warns),
    /// and <paramref name="join"/> says which ids it then trains on. A string beside a message list becomes one user
    /// (prompt) or assistant (completion) message. Then <see cref="Truncate"/>.
    /// </summary>
    public static TrainingExample TokenizePromptCompletion(TextOrMessages prompt, TextOrMessages completion, ITokenizer tokenizer,
        IChatTemplate? template, DatasetReadOptions options, RowContext row, PromptJoin join = PromptJoin.FullRender,
        string completionField = "completion")
    {
        IReadOnlyList<int> promptIds, fullIds;
        if (!prompt.IsConversational && !completion.IsConversational)
        {
            if (completion.Text!.Length == 0)
                throw InputException.At(row.Source, row.Line, completionField, "empty; expected the completion text");
            promptIds = tokenizer.Encode(prompt.Text!, addSpecialTokens: true).Ids;
            fullIds = tokenizer.Encode(prompt.Text + WithEos(completion.Text, tokenizer), addSpecialTokens: true).Ids;
        }
        else
        {
            var chatTemplate = template ?? throw InputException.At(row.Source, row.Line, null,
                "conversational data needs the tokenizer's chat_template");
            var promptMessages = prompt.AsMessages("user");
            var completionMessages = completion.AsMessages("assistant");
            CheckCompletion(completionMessages, row, completionField);
            promptIds = tokenizer.Encode(Render(chatTemplate, promptMessages, true, row)).Ids;
            fullIds = tokenizer.Encode(Render(chatTemplate, [.. promptMessages, .. completionMessages], false, row)).Ids;
        }
        int n = promptIds.Count;
        if (fullIds.Count < n || !fullIds.Take(n).SequenceEqual(promptIds)) row.Warnings?.Add(DatasetWarnings.PromptNotPrefix, row.Line);
        var ids = join == PromptJoin.FullRender ? fullIds.ToArray() : promptIds.Concat(fullIds.Skip(n)).ToArray();
        var labels = ids.Select((id, i) => i < n ? TokenLogProbs.IgnoreIndex : id).ToArray();
        return Truncate(new TrainingExample(ids, labels), options.MaxLength, options.MaxPromptLength, row.Source, row.Line,
            completionField);
    }

    /// <summary>The template's text; its own errors (raise_exception, a type error on null content) name the row.</summary>
    private static string Render(IChatTemplate template, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, RowContext row)
    {
        try { return template.RenderText(messages, addGenerationPrompt, row.Arguments); }
        catch (InputException e) when (row.Line > 0) { throw InputException.At(row.Source, row.Line, null, e.Message); }
    }

    private static void CheckCompletion(IReadOnlyList<ChatMessage> completion, RowContext row, string field)
    {
        if (completion.Count == 0 || completion[0].Role != "assistant")
            throw InputException.At(row.Source, row.Line, field, "expected a completion that starts with an assistant message");
        if (completion.Any(m => m.Role == "assistant" && !m.HasToolCalls && m.Text.Length == 0))
            throw InputException.At(row.Source, row.Line, field, "expected a non-empty assistant completion (text or tool calls)");
    }

    /// <summary>
    /// TRL's standard (non-conversational) prompt-completion (see <see cref="TokenizePromptCompletion"/>): no chat template;
    /// the prompt's tokens are unlabelled, those of completion + EOS after them labelled.
    /// </summary>
    public static TrainingExample TokenizePlain(string prompt, string completion, ITokenizer tokenizer, int maxLength,
        string source, int line, int? maxPromptLength = null) =>
        TokenizePromptCompletion(prompt, completion, tokenizer, null,
            new DatasetReadOptions(maxLength) { MaxPromptLength = maxPromptLength }, new RowContext(source, line),
            completionField: "prompt");

    /// <summary>
    /// The truncation policy, TRL's: the prompt (the tokens before the first labelled one) keeps its last
    /// <paramref name="maxPromptLength"/> tokens, then the whole sequence keeps its first <paramref name="maxLength"/>.
    /// An example left with no labelled token to predict is an error.
    /// </summary>
    public static TrainingExample Truncate(TrainingExample example, int maxLength, int? maxPromptLength, string source, int line,
        string field)
    {
        int firstLabel = Array.FindIndex(example.Labels, l => l != TokenLogProbs.IgnoreIndex);
        if (firstLabel < 0) throw InputException.At(source, line, field, "nothing to train on: no completion token");
        int drop = maxPromptLength is int p && firstLabel > p ? firstLabel - p : 0;
        int keep = Math.Min(example.Length - drop, maxLength);
        var ids = example.InputIds.Skip(drop).Take(keep).ToArray();
        var labels = example.Labels.Skip(drop).Take(keep).ToArray();
        if (labels.Skip(1).All(l => l == TokenLogProbs.IgnoreIndex))
            throw InputException.At(source, line, field,
                $"the prompt fills max_length ({maxLength} tokens): no completion token left to train on");
        return new TrainingExample(ids, labels);
    }

    /// <summary>Reads the <c>messages</c> rows of a JSONL file; a malformed line, a missing or mistyped field gets an
    /// <see cref="InputException"/> naming file, line and field.</summary>
    public static IReadOnlyList<IReadOnlyList<ChatMessage>> ReadConversations(string path, bool allowInvalidUtf8 = false)
    {
        var conversations = new List<IReadOnlyList<ChatMessage>>();
        foreach (var (lineNumber, root) in DatasetRows.Read(path, allowInvalidUtf8))
            conversations.Add(Conversation(root, path, lineNumber));
        if (conversations.Count == 0) throw new InputException($"{path}: no examples");
        return conversations;
    }

    private static List<ChatMessage> Conversation(JsonElement root, string path, int lineNumber)
    {
        if (!root.TryGetProperty("messages", out var messages))
            throw InputException.At(path, lineNumber, "messages",
                "missing; expected a list of {\"role\", \"content\"} objects (or prompt/completion, or text)");
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw InputException.At(path, lineNumber, "messages",
                $"expected a non-empty list of {{\"role\", \"content\"}} objects; got {DatasetMessages.Kind(messages)}" +
                (messages.ValueKind == JsonValueKind.Array ? " (empty)" : ""));
        var conversation = DatasetMessages.Parse(messages, path, lineNumber, "messages");
        if (!conversation.Any(c => c.Role == "assistant"))
            throw InputException.At(path, lineNumber, "messages", "no assistant message; expected at least one to train on");
        return conversation;
    }

    /// <summary>
    /// A conversation (<c>messages</c> row) rendered with the chat template and tokenised, the loss on the assistant
    /// turns (TRL's <c>assistant_only_loss=True</c>): when the template has <c>{% generation %}</c> blocks, the tokens
    /// transformers' <c>return_assistant_tokens_mask</c> marks (from the token holding a block's first character through
    /// the one holding its last); otherwise the tokens inside the assistant spans <see cref="JinjaChatTemplate"/> locates
    /// (content and end-of-turn marker; tool-call turns from the generation prompt to their end-of-turn marker). With
    /// <paramref name="completionOnly"/> false every token is labelled (TRL's default for such rows). Then
    /// <see cref="Truncate"/>.
    /// </summary>
    /// <param name="skipAssistantTurns">Assistant turns at the start that stay unlabelled.</param>
    public static TrainingExample Tokenize(IReadOnlyList<ChatMessage> conversation, ITokenizer tokenizer, IChatTemplate template,
        int maxLength, bool completionOnly = true, string source = "dataset", int line = 0, int skipAssistantTurns = 0,
        int? maxPromptLength = null) =>
        Tokenize(conversation, tokenizer, template, new DatasetReadOptions(maxLength) { MaxPromptLength = maxPromptLength },
            new RowContext(source, line), completionOnly, skipAssistantTurns);

    public static TrainingExample Tokenize(IReadOnlyList<ChatMessage> conversation, ITokenizer tokenizer, IChatTemplate template,
        DatasetReadOptions options, RowContext row, bool completionOnly = true, int skipAssistantTurns = 0)
    {
        RenderedChat rendered;
        try { rendered = template.Render(conversation, addGenerationPrompt: false, row.Arguments); }
        catch (InputException e) when (row.Line > 0) { throw InputException.At(row.Source, row.Line, "messages", e.Message); }
        var spans = rendered.AssistantSpans.Skip(skipAssistantTurns).ToList();
        var tokens = tokenizer.Encode(rendered.Text);
        var assistant = rendered.FromGenerationBlocks ? GenerationMask(tokens, spans) : InsideMask(tokens, spans);
        var ids = tokens.Ids.ToArray();
        var labels = ids.Select((id, i) => assistant[i] || !completionOnly ? id : TokenLogProbs.IgnoreIndex).ToArray();
        return Truncate(new TrainingExample(ids, labels), options.MaxLength, options.MaxPromptLength, row.Source, row.Line, "messages");
    }

    private static bool[] InsideMask(TokenizedText tokens, List<(int Start, int End)> spans)
    {
        var mask = new bool[tokens.Ids.Count];
        for (int i = 0; i < mask.Length; i++)
        {
            var (start, end) = tokens.Offsets[i];
            mask[i] = spans.Any(s => start >= s.Start && end <= s.End);
        }
        return mask;
    }

    /// <summary>transformers' assistant mask: for each span, char_to_token of its first and last character (the first
    /// token whose offsets hold it) and every token between; a span starting past the last token stops the marking, and
    /// one whose last character maps to no token (or to token 0, a quirk kept) runs to the end.</summary>
    private static bool[] GenerationMask(TokenizedText tokens, List<(int Start, int End)> spans)
    {
        int n = tokens.Ids.Count;
        var mask = new bool[n];
        int? CharToToken(int c)
        {
            for (int t = 0; t < n; t++)
                if (tokens.Offsets[t].Start <= c && c < tokens.Offsets[t].End) return t;
            return null;
        }
        foreach (var (start, end) in spans)
        {
            if (CharToToken(start) is not int first) break;
            int? last = CharToToken(end - 1);
            int stop = last is int l && l != 0 ? l + 1 : n;
            for (int t = first; t < stop; t++) mask[t] = true;
        }
        return mask;
    }
}

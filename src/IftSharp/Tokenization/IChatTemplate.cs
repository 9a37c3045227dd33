namespace IftSharp.Tokenization;

/// <summary>
/// A rendered conversation: the prompt text exactly as <c>transformers</c>' <c>apply_chat_template</c> renders it,
/// and the character spans [Start, End) of the text that belongs to assistant turns (what completion-only
/// training puts the loss on; they include the end-of-turn marker the template writes after the content).
/// </summary>
/// <param name="FromGenerationBlocks">The spans are the output of the template's <c>{% generation %}</c> blocks, so tokens
/// are assigned to them as transformers' <c>return_assistant_tokens_mask</c> does (from the token holding a span's first
/// character to the one holding its last); otherwise they were located in the text and a token must lie inside one.</param>
public sealed record RenderedChat(string Text, IReadOnlyList<(int Start, int End)> AssistantSpans, bool FromGenerationBlocks = false);

/// <summary>
/// What <c>apply_chat_template</c> passes a template besides the messages: <c>tools</c> (a list of JSON-schema
/// dictionaries, or null) and keyword arguments (<c>enable_thinking</c>, <c>date_string</c>, ...; TRL's
/// <c>chat_template_kwargs</c>).
/// </summary>
public sealed record ChatTemplateArguments(IReadOnlyList<object?>? Tools = null, IReadOnlyDictionary<string, object?>? Variables = null)
{
    public static readonly ChatTemplateArguments None = new();
}

/// <summary>A chat template (the Jinja <c>chat_template</c> of <c>tokenizer_config.json</c>).</summary>
public interface IChatTemplate
{
    /// <summary>The text and the assistant spans; an assistant turn whose span cannot be found is an error.</summary>
    RenderedChat Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false, ChatTemplateArguments? arguments = null);

    /// <summary>Only the text (what TRL's prompt-completion masks need).</summary>
    string RenderText(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false, ChatTemplateArguments? arguments = null);

    /// <summary>Whether the template marks assistant output with <c>{% generation %}</c> blocks.</summary>
    bool HasGenerationBlocks { get; }
}

namespace IftSharp.Tokenization;

/// <summary>
/// A rendered conversation: the prompt text exactly as <c>transformers</c>' <c>apply_chat_template</c> renders it,
/// and the character spans [Start, End) of the text that belongs to assistant turns (what completion-only
/// training puts the loss on; they include the end-of-turn marker the template writes after the content).
/// </summary>
public sealed record RenderedChat(string Text, IReadOnlyList<(int Start, int End)> AssistantSpans);

/// <summary>A chat template (the Jinja <c>chat_template</c> of <c>tokenizer_config.json</c>).</summary>
public interface IChatTemplate
{
    RenderedChat Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false);
}

using System.Text;
using IftSharp.Core;

namespace IftSharp.Tokenization;

/// <summary>
/// The ChatML chat template (Qwen2's, without tool calls) rendered in C#, for the project's own tokenizers:
/// <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c> per message, <c>&lt;|im_start|&gt;assistant\n</c> as the generation prompt.
/// Assistant spans cover the content and its <c>&lt;|im_end|&gt;</c>, as completion-only training wants. Like its Jinja
/// text (which concatenates the content to strings), it takes string content only; tools and keyword arguments are ignored.
/// </summary>
public sealed class ChatMlTemplate : IChatTemplate
{
    /// <summary>The equivalent Jinja text, written into <c>tokenizer_config.json</c> so other tools render the same prompt.</summary>
    public const string JinjaSource =
        "{% for message in messages %}" +
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static readonly string[] Roles = ["system", "user", "assistant", "tool"];

    public bool HasGenerationBlocks => false;

    public RenderedChat Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false,
        ChatTemplateArguments? arguments = null)
    {
        var sb = new StringBuilder();
        var spans = new List<(int, int)>();
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (!Roles.Contains(m.Role)) throw new InputException($"message role '{m.Role}': expected one of {string.Join(", ", Roles)}");
            if (m.Content is null || m.ContentParts is not null)
                throw new InputException($"message {i} ({m.Role}): the ChatML template takes string content only " +
                    $"(got {(m.ContentParts is not null ? "a list of parts" : "null")}); tool calls need a template that renders them");
            sb.Append("<|im_start|>").Append(m.Role).Append('\n');
            int start = sb.Length;
            sb.Append(m.Content).Append("<|im_end|>");
            if (m.Role == "assistant") spans.Add((start, sb.Length));
            sb.Append('\n');
        }
        if (addGenerationPrompt) sb.Append("<|im_start|>assistant\n");
        return new RenderedChat(sb.ToString(), spans);
    }

    public string RenderText(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false,
        ChatTemplateArguments? arguments = null) =>
        Render(messages, addGenerationPrompt, arguments).Text;
}

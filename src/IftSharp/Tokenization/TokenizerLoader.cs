using System.Text.Json.Nodes;
using IftSharp.Core;

namespace IftSharp.Tokenization;

/// <summary>
/// Loads the tokenizer and chat template of a model folder: IftSharp's own <see cref="ByteLevelTokenizer"/>, or any
/// trained byte-level BPE <c>tokenizer.json</c> (Qwen2/Qwen3, Llama-3, GPT-2 style) as <see cref="BpeTokenizer"/>.
/// Chat templates: IftSharp's ChatML template is rendered; other Jinja templates get a clear error until the Jinja
/// renderer lands (issue 5).
/// </summary>
public static class TokenizerLoader
{
    public static (ITokenizer Tokenizer, IChatTemplate? Template) Load(string directory)
    {
        var tokenizerPath = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(tokenizerPath)) throw new InputException($"{tokenizerPath}: file not found; expected the model's Hugging Face tokenizer");
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        ITokenizer tokenizer = ByteLevelTokenizer.IsSavedIn(directory) ? new ByteLevelTokenizer() : BpeTokenizer.Load(tokenizerPath, configPath);
        IChatTemplate? template = null;
        if (File.Exists(configPath))
        {
            var source = JsonNode.Parse(File.ReadAllText(configPath))?["chat_template"]?.GetValue<string>();
            // A template we cannot render yet fails when a chat is rendered, not at load: plain text and
            // prompt-completion strings need no template and work with every tokenizer.
            if (source is not null)
                template = source == ChatMlTemplate.JinjaSource ? new ChatMlTemplate()
                    : new UnsupportedChatTemplate($"{configPath}: field 'chat_template': only IftSharp's ChatML template is rendered so far (Jinja rendering of other templates is not implemented yet)");
        }
        return (tokenizer, template);
    }
}

/// <summary>Stands for a chat template IftSharp cannot render: rendering is a clear error instead of a wrong prompt.</summary>
public sealed class UnsupportedChatTemplate(string reason) : IChatTemplate
{
    public RenderedChat Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false) => throw new InputException(reason);
}

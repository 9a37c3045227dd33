using System.Text.Json.Nodes;
using IftSharp.Core;

namespace IftSharp.Tokenization;

/// <summary>
/// Loads the tokenizer and chat template of a model folder: IftSharp's own <see cref="ByteLevelTokenizer"/>, or any
/// trained byte-level BPE <c>tokenizer.json</c> (Qwen2/Qwen3, Llama-3, GPT-2 style) as <see cref="BpeTokenizer"/>.
/// Chat templates: the <c>chat_template</c> of <c>tokenizer_config.json</c>, rendered as <c>transformers</c> renders it.
/// </summary>
public static class TokenizerLoader
{
    public static (ITokenizer Tokenizer, IChatTemplate? Template) Load(string directory)
    {
        var tokenizerPath = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
            throw new InputException($"{tokenizerPath}: file not found; expected the model's Hugging Face tokenizer");
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        ITokenizer tokenizer = ByteLevelTokenizer.IsSavedIn(directory)
            ? new ByteLevelTokenizer()
            : BpeTokenizer.Load(tokenizerPath, configPath);
        IChatTemplate? template = null;
        if (File.Exists(configPath))
        {
            JsonNode? source;
            try { source = JsonNode.Parse(File.ReadAllText(configPath))?["chat_template"]; }
            catch (System.Text.Json.JsonException e) { throw new InputException($"{configPath}: not valid JSON ({e.Message})", e); }
            // IftSharp's own template renders through its C# twin; any other goes through the Jinja interpreter,
            // which rejects constructs outside its subset here, at load, naming the template line.
            if (source is not null)
                template = source.GetValueKind() == System.Text.Json.JsonValueKind.String
                           && source.GetValue<string>() == ChatMlTemplate.JinjaSource
                    ? new ChatMlTemplate() : JinjaChatTemplate.FromTokenizerConfig(configPath);
        }
        return (tokenizer, template);
    }
}

using System.Text.Json.Nodes;
using IftSharp.Core;

namespace IftSharp.Tokenization;

/// <summary>
/// Loads the tokenizer and chat template of a model folder. Today this recognises the tokenizers IftSharp writes
/// (<see cref="ByteLevelTokenizer"/> with the ChatML template); trained byte-level BPE files (Qwen, Llama-3) and
/// arbitrary Jinja templates get a clear error until their loaders land.
/// </summary>
public static class TokenizerLoader
{
    public static (ITokenizer Tokenizer, IChatTemplate? Template) Load(string directory)
    {
        var tokenizerPath = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(tokenizerPath)) throw new InputException($"{tokenizerPath}: file not found; expected the model's Hugging Face tokenizer");
        if (!ByteLevelTokenizer.IsSavedIn(directory))
            throw new InputException($"{tokenizerPath}: a trained BPE vocabulary; IftSharp reads only its own byte-level tokenizers so far");
        IChatTemplate? template = null;
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        if (File.Exists(configPath))
        {
            var source = JsonNode.Parse(File.ReadAllText(configPath))?["chat_template"]?.GetValue<string>();
            if (source is not null && source != ChatMlTemplate.JinjaSource)
                throw new InputException($"{configPath}: field 'chat_template': only IftSharp's ChatML template is rendered so far");
            if (source is not null) template = new ChatMlTemplate();
        }
        return (new ByteLevelTokenizer(), template);
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;

namespace IftSharp.Models;

/// <summary>
/// Creates a fresh, randomly initialised model folder from an architecture config and a tokenizer folder:
/// tokenizer files copied, config.json completed from the tokenizer (vocab size, BOS/EOS/PAD ids), model.safetensors.
/// Reads tokenizer.json with System.Text.Json only, independent of the tokenizer implementation.
/// </summary>
public static class PretrainedInitializer
{
    public static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

    /// <summary>
    /// Writes the model folder. <paramref name="outputDirectory"/> must be new or empty unless <paramref name="overwrite"/>,
    /// which clears it (after every input has been checked, and never when it holds the inputs). The model is built once,
    /// initialised in place, and written: its memory is the float32 model's size.
    /// </summary>
    public static DecoderConfig Initialize(string configPath, string tokenizerDirectory, string outputDirectory, long seed = 0,
        bool overwrite = false)
    {
        if (!File.Exists(configPath)) throw new InputException($"{configPath}: config file not found");
        if (!Directory.Exists(tokenizerDirectory)) throw new InputException($"{tokenizerDirectory}: tokenizer folder not found");
        var tokenizerJson = Path.Combine(tokenizerDirectory, "tokenizer.json");
        if (!File.Exists(tokenizerJson)) throw new InputException($"{tokenizerJson}: tokenizer.json not found");

        // A tokenizer train and generate could not run is refused here, before anything is written.
        IftSharp.Tokenization.TokenizerLoader.Load(tokenizerDirectory);
        var vocabulary = ReadVocabulary(tokenizerJson);
        var specials = ReadSpecialTokens(Path.Combine(tokenizerDirectory, "tokenizer_config.json"), vocabulary);

        DecoderConfig raw;
        try
        {
            raw = JsonSerializer.Deserialize<DecoderConfig>(File.ReadAllText(configPath))
                  ?? throw new InputException($"{configPath}: empty config");
        }
        catch (JsonException e)
        {
            throw InputException.At(configPath, (int?)e.LineNumber + 1, e.Path?.TrimStart('$', '.'), $"not valid here: {e.Message}");
        }
        int tokenizerVocab = vocabulary.Count == 0 ? 0 : vocabulary.Values.Max() + 1;
        var config = raw.WithRopeParameters(configPath) with
        {
            VocabSize = raw.VocabSize > 0 ? raw.VocabSize : tokenizerVocab,
            BosTokenId = raw.BosTokenId ?? specials.Bos,
            EosTokenId = raw.EosTokenId ?? (specials.Eos is int eos ? [eos] : null),
            PadTokenId = raw.PadTokenId ?? specials.Pad,
        };
        config.Validate(configPath);
        ModelChecks.VocabularyCovers(config, tokenizerVocab, configPath);

        PrepareOutput(outputDirectory, overwrite, configPath, tokenizerDirectory);
        Directory.CreateDirectory(outputDirectory);
        foreach (var name in TokenizerFiles)
        {
            var source = Path.Combine(tokenizerDirectory, name);
            if (!File.Exists(source)) continue;
            var target = Path.Combine(outputDirectory, name);
            File.Copy(source, target + ".tmp", overwrite: true);
            File.Move(target + ".tmp", target, overwrite: true);
        }
        using var model = ModelFactory.CreateFromConfig(config, seed);
        model.SavePretrained(outputDirectory);
        return model.Config;
    }

    /// <summary>An existing file, or a folder with contents without <paramref name="overwrite"/>, is refused; with it the folder is
    /// emptied.</summary>
    private static void PrepareOutput(string outputDirectory, bool overwrite, string configPath, string tokenizerDirectory)
    {
        if (File.Exists(outputDirectory)) throw new InputException($"{outputDirectory}: --output is a file; expected a folder");
        if (!Directory.Exists(outputDirectory)) return;
        var entries = Directory.GetFileSystemEntries(outputDirectory);
        if (entries.Length == 0) return;
        if (!overwrite)
            throw new InputException($"{outputDirectory}: --output is not empty ({entries.Length} entries, such as "
                + $"{Path.GetFileName(entries.Order(StringComparer.Ordinal).First())}); choose a new folder, or pass --overwrite to "
                + "replace its contents");
        var output = Path.GetFullPath(outputDirectory).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        bool Inside(string path) => (Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar)
            .StartsWith(output, StringComparison.Ordinal);
        if (Inside(configPath) || Inside(tokenizerDirectory))
            throw new InputException($"{outputDirectory}: --output holds the --config or --tokenizer input, which --overwrite would "
                + "delete; write to another folder");
        foreach (var entry in entries)
        {
            if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
            else File.Delete(entry);
        }
    }

    /// <summary>Token → id over the model vocabulary (BPE/WordPiece object or Unigram list) and the added tokens.</summary>
    public static Dictionary<string, int> ReadVocabulary(string tokenizerJsonPath)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(tokenizerJsonPath)); }
        catch (JsonException e)
        {
            throw InputException.At(tokenizerJsonPath, (int?)e.LineNumber + 1, null, $"not valid JSON: {e.Message}");
        }
        var vocabulary = new Dictionary<string, int>();
        switch (root?["model"]?["vocab"])
        {
            case JsonObject map:
                foreach (var (token, id) in map) vocabulary[token] = id!.GetValue<int>();
                break;
            case JsonArray list: // Unigram: [[piece, score], ...], ids are positions
                for (int i = 0; i < list.Count; i++) vocabulary[list[i]![0]!.GetValue<string>()] = i;
                break;
            default:
                throw InputException.At(tokenizerJsonPath, null, "model.vocab", "missing: expected an object (token → id) or a list");
        }
        if (root!["added_tokens"] is JsonArray added)
            foreach (var token in added)
                if (token?["content"]?.GetValue<string>() is string content && token["id"] is JsonNode id)
                    vocabulary[content] = id.GetValue<int>();
        return vocabulary;
    }

    private static (int? Bos, int? Eos, int? Pad) ReadSpecialTokens(string tokenizerConfigPath, Dictionary<string, int> vocabulary)
    {
        if (!File.Exists(tokenizerConfigPath)) return (null, null, null);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(tokenizerConfigPath)); }
        catch (JsonException e)
        {
            throw InputException.At(tokenizerConfigPath, (int?)e.LineNumber + 1, null, $"not valid JSON: {e.Message}");
        }
        int? Id(string field)
        {
            var node = root?[field];
            var text = node switch
            {
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                JsonObject o => o["content"]?.GetValue<string>(),
                _ => null,
            };
            if (text is null) return null;
            return vocabulary.TryGetValue(text, out var id) ? id
                : throw InputException.At(tokenizerConfigPath, null, field, $"'{text}' is not in the tokenizer's vocabulary");
        }
        return (Id("bos_token"), Id("eos_token"), Id("pad_token"));
    }
}

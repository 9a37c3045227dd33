using System.CommandLine;
using System.Text.Json.Nodes;
using IftSharp.Cli.Commands;
using IftSharp.Tests.Support;
using IftSharp.Tests.Tokenization;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Cli;

/// <summary>
/// The paper's own base-model family end to end through the command line: a folder with the real Mistral / Llama-2
/// tokenizer (SentencePiece-style BPE with byte fallback; the package ships no chat template, so the published
/// Mistral-Instruct template is added to its tokenizer_config.json) and one with Gemma-3's (262k vocabulary, its own
/// template), each given a tiny random-weight model by init-model, trained with IFT on a conversational dataset for
/// a few steps, then asked with generate --chat. And init-model refusing a tokenizer nothing could run.
/// </summary>
public class SentencePieceModelCommandTests
{
    private const string TinyArchitecture = """
        {"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": true, "max_position_embeddings": 256}
        """;

    private static int Run(params string[] args) => CliRun.Run(args).Code; // through the program's error boundary

    private static string TokenizerFolder(string work, string name, string? chatTemplate)
    {
        var dir = Directory.CreateDirectory(Path.Combine(work, "tokenizer")).FullName;
        var source = RealTokenizerFiles.Folder(name);
        File.Copy(Path.Combine(source, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "tokenizer_config.json")))!.AsObject();
        if (chatTemplate is not null) config["chat_template"] = chatTemplate;
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString());
        return dir;
    }

    [Theory]
    [InlineData("llama2", true)]
    [InlineData("gemma3", false)]
    public void InitTrainWithIftAndChat(string name, bool addMistralTemplate)
    {
        var work = Directory.CreateTempSubdirectory("iftsharp-sp-").FullName;
        try
        {
            var template = addMistralTemplate ? File.ReadAllText(Fixture.PathOf("tokenization", "templates", "mistral.jinja")) : null;
            var tokenizer = TokenizerFolder(work, name, template);
            var config = Path.Combine(work, "tiny.json");
            File.WriteAllText(config, TinyArchitecture);
            var model = Path.Combine(work, "model");
            Assert.Equal(0, Run("init-model", "--config", config, "--tokenizer", tokenizer, "--output", model, "--seed", "1"));
            var (loaded, chat) = TokenizerLoader.Load(model);
            Assert.IsType<BpeTokenizer>(loaded);
            Assert.NotNull(chat);

            var data = TempJsonl.Write(
                """{"messages": [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "5"}]}""",
                """{"messages": [{"role": "user", "content": "Name a colour."},"""
                    + """ {"role": "assistant", "content": "Blue, like the sky."}]}""",
                """{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! 👋"},"""
                    + """ {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]}""");
            var output = Path.Combine(work, "ift");
            Assert.Equal(0, Run("train", "--method", "ift", "--model", model, "--dataset", data, "--output", output,
                "--max-steps", "3", "--batch-size", "2", "--max-length", "96"));
            var metrics = File.ReadAllLines(Path.Combine(output, "metrics.jsonl"));
            Assert.Equal(3, metrics.Length);
            Assert.All(metrics, line => Assert.True(double.IsFinite(JsonNode.Parse(line)!["loss"]!.GetValue<double>()), line));
            Assert.Equal(0, Run("generate", "--model", output, "--prompt", "What is 2 plus 3?", "--chat", "--max-new-tokens", "4"));
        }
        finally { Directory.Delete(work, true); }
    }

    [Fact]
    public void InitModelRefusesATokenizerItCannotRunAndWritesNothing()
    {
        var work = Directory.CreateTempSubdirectory("iftsharp-sp-refuse-").FullName;
        try
        {
            var tokenizer = Directory.CreateDirectory(Path.Combine(work, "tokenizer")).FullName;
            File.WriteAllText(Path.Combine(tokenizer, "tokenizer.json"),
                """{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.0]]}, "added_tokens": []}""");
            var config = Path.Combine(work, "tiny.json");
            File.WriteAllText(config, TinyArchitecture);
            var output = Path.Combine(work, "model");
            CliRun.Run("init-model", "--config", config, "--tokenizer", tokenizer, "--output", output)
                .AssertError(2, "tokenizer.json: field 'model.type': 'Unigram' is not supported; expected 'BPE'");
            Assert.False(Directory.Exists(output));
        }
        finally { Directory.Delete(work, true); }
    }
}

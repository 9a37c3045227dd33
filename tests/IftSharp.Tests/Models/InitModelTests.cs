using System.CommandLine;
using System.Text.Json.Nodes;
using IftSharp.Cli.Commands;
using IftSharp.Core;
using IftSharp.Models;
using Xunit;

namespace IftSharp.Tests.Models;

public class InitModelTests
{
    private const string TinyArchitecture = """
        {"model_type": "qwen2", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": true}
        """;

    /// <summary>A BPE tokenizer.json with 6 vocabulary entries (ids 0-5) and 2 added tokens (ids 6, 7): 8 ids.</summary>
    private static void WriteTokenizer(string dir)
    {
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), """
            {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5}, "merges": []},
             "added_tokens": [{"id": 6, "content": "<|endoftext|>", "special": true}, {"id": 7, "content": "<|im_end|>", "special": true}]}
            """);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """
            {"eos_token": "<|im_end|>", "pad_token": {"content": "<|endoftext|>"}, "bos_token": null}
            """);
    }

    private static int Run(params string[] args)
    {
        var root = new RootCommand();
        root.Subcommands.Add(InitModelCommand.Create());
        return root.Parse(args).Invoke();
    }

    [Fact]
    public void CreatesALoadableModelWithTheTokenizerFilledIn()
    {
        var work = TinyModels.TempDirectory();
        try
        {
            var tokenizer = Directory.CreateDirectory(Path.Combine(work, "tok")).FullName;
            WriteTokenizer(tokenizer);
            var config = Path.Combine(work, "tiny.json");
            File.WriteAllText(config, TinyArchitecture);
            var output = Path.Combine(work, "out");
            Assert.Equal(0, Run("init-model", "--config", config, "--tokenizer", tokenizer, "--output", output, "--seed", "3"));
            Assert.True(File.Exists(Path.Combine(output, "tokenizer.json")));
            Assert.True(File.Exists(Path.Combine(output, "tokenizer_config.json")));
            var written = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "config.json")))!;
            Assert.Equal(8, written["vocab_size"]!.GetValue<int>());
            Assert.Equal(7, written["eos_token_id"]!.GetValue<int>());
            Assert.Equal(6, written["pad_token_id"]!.GetValue<int>());
            Assert.Null(written["bos_token_id"]);
            using var model = LlamaForCausalLM.FromPretrained(output);
            Assert.Equal(8, model.EmbedTokens.weight!.shape[0]);
        }
        finally { Directory.Delete(work, true); }
    }

    [Fact]
    public void MissingFilesAndTooSmallVocabularyAreInputErrors()
    {
        var work = TinyModels.TempDirectory();
        try
        {
            var tokenizer = Directory.CreateDirectory(Path.Combine(work, "tok")).FullName;
            var config = Path.Combine(work, "tiny.json");
            File.WriteAllText(config, TinyArchitecture);
            var output = Path.Combine(work, "out");
            var e = Assert.Throws<InputException>(() => PretrainedInitializer.Initialize(config, tokenizer, output));
            Assert.Contains("tokenizer.json", e.Message);
            Assert.Equal(2, Run("init-model", "--config", Path.Combine(work, "nope.json"), "--tokenizer", tokenizer, "--output", output));
            WriteTokenizer(tokenizer);
            File.WriteAllText(config, TinyArchitecture.Replace("\"tie_word_embeddings\"", "\"vocab_size\": 5, \"tie_word_embeddings\""));
            e = Assert.Throws<InputException>(() => PretrainedInitializer.Initialize(config, tokenizer, output));
            Assert.Contains("'vocab_size'", e.Message);
            Assert.False(Directory.Exists(output));
        }
        finally { Directory.Delete(work, true); }
    }
}

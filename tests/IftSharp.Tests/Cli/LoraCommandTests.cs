using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Tests.Models;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Cli;

/// <summary><c>generate --adapter</c> and <c>merge</c> through the command line, on a tiny byte-level model and adapter.</summary>
public class LoraCommandTests
{
    private static int Run(params string[] args)
    {
        var root = new RootCommand();
        foreach (var c in CommandCatalog.All()) root.Subcommands.Add(c);
        return root.Parse(args).Invoke();
    }

    /// <summary>A model folder with its tokenizer, and an adapter folder for it whose B is not zero.</summary>
    private static (string Model, string Adapter) Folders()
    {
        var model = TinyModels.TempDirectory();
        var adapter = TinyModels.TempDirectory();
        using var lm = TinyLlama.Create();
        lm.SavePretrained(model);
        new ByteLevelTokenizer().Save(model);
        var lora = LoraAdapter.Inject(lm, LoraConfig.FromOptions(4, targets: "q_proj,v_proj,up_proj"), seed: 1);
        using (no_grad())
        using (var generator = new TorchSharp.torch.Generator(2))
            foreach (var (_, l) in lora.Modules) l.B.copy_(randn(l.B.shape, generator: generator));
        lora.Save(adapter, model);
        return (model, adapter);
    }

    private static List<int> Greedy(LlamaForCausalLM lm) =>
        TokenGenerator.Generate(lm, [new ByteLevelTokenizer().Encode("Reverse cat").Ids.ToList()],
            new GenerationOptions { MaxNewTokens = 8, Temperature = 0 }).Tokens[0].ToList();

    [Fact]
    public void GenerateWithAnAdapterAndMergeAgree()
    {
        var (model, adapter) = Folders();
        var merged = model + "-merged";
        try
        {
            Assert.Equal(0, Run("generate", "--model", model, "--adapter", adapter, "--prompt", "Reverse cat", "--max-new-tokens", "4"));
            Assert.Equal(0, Run("merge", "--model", model, "--adapter", adapter, "--output", merged));
            foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json" })
                Assert.True(File.Exists(Path.Combine(merged, f)), f);
            Assert.False(File.Exists(Path.Combine(merged, PeftAdapter.ConfigFileName)));

            // The merged folder is a plain model that generates what base + adapter generates, and not what the base does.
            using var withAdapter = LlamaForCausalLM.FromPretrained(model);
            PeftAdapter.Load(withAdapter, adapter, trainable: false);
            using var plainMerged = LlamaForCausalLM.FromPretrained(merged);
            using var plainBase = LlamaForCausalLM.FromPretrained(model);
            var expected = Greedy(withAdapter);
            Assert.Equal(expected, Greedy(plainMerged));
            Assert.NotEqual(expected, Greedy(plainBase));
        }
        finally
        {
            foreach (var d in new[] { model, adapter, merged }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    /// <summary>
    /// <c>train --lora-r 4</c> for IFT and DPO from the command line: the output folder is an adapter folder in PEFT's
    /// layout (the names, shapes and config keys PEFT's <c>save_pretrained</c> writes for a Llama model, spelled out
    /// here), which <c>generate --adapter</c> and <c>merge</c> take.
    /// </summary>
    [Theory]
    [InlineData("ift")]
    [InlineData("dpo")]
    public void TrainWithLoraWritesAnAdapterFolderThatGenerateAndMergeTake(string method)
    {
        var dir = TinyModels.TempDirectory();
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "base"));
            var data = method == "ift" ? CliRun.DemoData : Path.Combine(dir, "pairs.jsonl");
            if (method == "dpo")
                File.WriteAllLines(data, new[] { ("cat", "tac", "cta"), ("dog", "god", "odg"), ("owl", "lwo", "wol") }.Select(r =>
                    $"{{\"prompt\": \"Reverse {r.Item1}\", \"chosen\": \"{r.Item2}\", \"rejected\": \"{r.Item3}\"}}"));
            var output = Path.Combine(dir, "adapter");
            var train = CliRun.Run("train", "--method", method, "--model", model, "--dataset", data, "--output", output, "--lora-r", "4",
                "--max-steps", "2", "--batch-size", "2", "--max-length", "64", "--learning-rate", "0.01");
            Assert.True(train.Code == 0, train.Stderr);

            string[] files =
                ["adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "tokenizer.json", "tokenizer_config.json"];
            Assert.Equal(files,
                Directory.GetFileSystemEntries(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            using (var config = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "adapter_config.json"))))
            {
                var c = config.RootElement;
                Assert.Equal("LORA", c.GetProperty("peft_type").GetString());
                Assert.Equal("CAUSAL_LM", c.GetProperty("task_type").GetString());
                Assert.Equal(4, c.GetProperty("r").GetInt32());
                Assert.Equal(8, c.GetProperty("lora_alpha").GetInt32()); // 2r by default
                Assert.Equal(0.0, c.GetProperty("lora_dropout").GetDouble());
                Assert.Equal("none", c.GetProperty("bias").GetString());
                Assert.False(c.GetProperty("use_rslora").GetBoolean());
                Assert.False(c.GetProperty("fan_in_fan_out").GetBoolean());
                Assert.True(c.GetProperty("init_lora_weights").GetBoolean());
                Assert.Equal(System.Text.Json.JsonValueKind.Null, c.GetProperty("modules_to_save").ValueKind);
                Assert.Equal(model, c.GetProperty("base_model_name_or_path").GetString());
                Assert.Equal(["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"],
                    c.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
            }
            // hidden 32, intermediate 64, one layer: A is [r, in], B is [out, r].
            var expected = new Dictionary<string, long[]>();
            foreach (var (block, name, inputs, outputs) in new[]
            {
                ("self_attn", "q_proj", 32L, 32L), ("self_attn", "k_proj", 32L, 32L), ("self_attn", "v_proj", 32L, 32L),
                ("self_attn", "o_proj", 32L, 32L), ("mlp", "gate_proj", 32L, 64L), ("mlp", "up_proj", 32L, 64L),
                ("mlp", "down_proj", 64L, 32L),
            })
            {
                expected[$"base_model.model.model.layers.0.{block}.{name}.lora_A.weight"] = [4, inputs];
                expected[$"base_model.model.model.layers.0.{block}.{name}.lora_B.weight"] = [outputs, 4];
            }
            using (var weights = new SafetensorsFile(Path.Combine(output, "adapter_model.safetensors")))
            {
                Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), weights.Entries.Keys.Order(StringComparer.Ordinal));
                foreach (var (name, shape) in expected)
                {
                    Assert.Equal(shape, weights.Entries[name].Shape);
                    Assert.Equal("F32", weights.Entries[name].Dtype);
                }
            }

            var generate = CliRun.Run("generate", "--model", model, "--adapter", output, "--prompt", "Reverse cat",
                "--max-new-tokens", "3");
            Assert.True(generate.Code == 0, generate.Stderr);
            var merged = Path.Combine(dir, "merged");
            var merge = CliRun.Run("merge", "--model", model, "--adapter", output, "--output", merged);
            Assert.True(merge.Code == 0, merge.Stderr);
            Assert.True(File.Exists(Path.Combine(merged, "model.safetensors")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void BadFoldersExitWithCodeTwo()
    {
        var (model, adapter) = Folders();
        try
        {
            Assert.Equal(2, Run("merge", "--model", model, "--adapter", model, "--output", model + "-x"));   // no adapter_config.json
            Assert.Equal(2, Run("merge", "--model", model, "--adapter", adapter, "--output", model));        // would overwrite the base
            Assert.Equal(2, Run("merge", "--model", adapter, "--adapter", adapter, "--output", model + "-x")); // no config.json
            Assert.Equal(2, Run("generate", "--model", model, "--adapter", model, "--prompt", "x"));
            Assert.False(Directory.Exists(model + "-x"));
        }
        finally
        {
            foreach (var d in new[] { model, adapter }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }
}

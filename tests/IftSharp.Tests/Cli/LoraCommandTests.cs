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

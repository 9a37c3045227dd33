using IftSharp.Tests.Support;
using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Models;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Cli;

/// <summary>The train → generate → plot path through the real command line, on a tiny model made for the test.</summary>
public class TrainGeneratePlotCommandTests
{
    private static int Run(params string[] args)
    {
        var root = new RootCommand();
        foreach (var c in CommandCatalog.All()) root.Subcommands.Add(c);
        return root.Parse(args).Invoke();
    }

    private static string TinyModel()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-cli-" + Guid.NewGuid().ToString("N"));
        var tokenizer = new ByteLevelTokenizer();
        using var model = TinyLlama.Create();
        model.SavePretrained(dir);
        tokenizer.Save(dir);
        return dir;
    }

    [Fact]
    public void TrainThenGenerateThenPlot()
    {
        var model = TinyModel();
        var output = model + "-out";
        var data = Path.Combine(AppContext.BaseDirectory, "data", "demo", "train.jsonl");
        try
        {
            Assert.Equal(0, Run("train", "--method", "ift", "--model", model, "--dataset", data, "--output", output, "--max-steps", "3", "--batch-size", "2"));
            foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "metrics.jsonl" })
                Assert.True(File.Exists(Path.Combine(output, f)), f);
            Assert.Equal(3, File.ReadAllLines(Path.Combine(output, "metrics.jsonl")).Length);
            Assert.Equal(0, Run("generate", "--model", output, "--prompt", "What is 1 plus 1?", "--chat", "--max-new-tokens", "4"));
            Assert.Equal(0, Run("plot", output));
            Assert.True(File.Exists(Path.Combine(output, "metrics.png")));
        }
        finally
        {
            foreach (var d in new[] { model, output }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [Fact]
    public void AConfigFileSuppliesOptionsAndFlagsOverrideIt()
    {
        var model = TinyModel();
        var output = model + "-out";
        var config = model + ".yaml";
        var data = Path.Combine(AppContext.BaseDirectory, "data", "demo", "train.jsonl");
        File.WriteAllText(config, $"method: sft\nmodel: {model}\ndataset: {data}\noutput: {output}\nmax_steps: 4\nbatch_size: 2\n");
        try
        {
            Assert.Equal(0, Run("train", "--config", config, "--max-steps", "2"));
            Assert.Equal(2, File.ReadAllLines(Path.Combine(output, "metrics.jsonl")).Length); // the flag won over max_steps: 4
            Assert.DoesNotContain("ift/", File.ReadAllText(Path.Combine(output, "metrics.jsonl"))); // method: sft came from the file
            File.WriteAllText(config, "max_steps: lots\n");
            Assert.Equal(2, Run("train", "--config", config, "--model", model, "--dataset", data, "--output", output));
        }
        finally
        {
            foreach (var d in new[] { model, output }) if (Directory.Exists(d)) Directory.Delete(d, true);
            File.Delete(config);
        }
    }

    [Fact]
    public void BadInputExitsWithCodeTwoBeforeTraining()
    {
        var model = TinyModel();
        var bad = Path.Combine(Path.GetTempPath(), "iftsharp-bad-" + Guid.NewGuid().ToString("N") + ".jsonl");
        File.WriteAllText(bad, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n");
        try
        {
            Assert.Equal(2, Run("train", "--model", model, "--dataset", bad, "--output", model + "-out"));
            Assert.False(Directory.Exists(model + "-out"));
            Assert.Equal(2, Run("generate", "--model", Path.GetTempPath(), "--prompt", "x"));
            Assert.Equal(2, Run("plot", Path.GetTempPath()));
        }
        finally { Directory.Delete(model, true); File.Delete(bad); }
    }
}

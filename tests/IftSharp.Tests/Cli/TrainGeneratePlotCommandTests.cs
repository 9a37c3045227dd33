using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Models;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Cli;

/// <summary>The train → generate → plot path through the real command line, on a tiny model made for the test.</summary>
public class TrainGeneratePlotCommandTests
{
    private static int Run(params string[] args) => CliRun.Run(args).Code; // through the program's error boundary

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
            Assert.Equal(0, Run("train", "--method", "ift", "--model", model, "--dataset", data, "--output", output,
                "--max-steps", "3", "--batch-size", "2"));
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

    [Fact]
    public void PlotNamesAMetricsLineThatIsNotAnObject()
    {
        // Every dataset-shaped file is read by DatasetRows, which names a line that is not a JSON object.
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-plot-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "metrics.jsonl"), "{\"step\": 1, \"loss\": 2.5}\n[1, 2]\n");
        try
        {
            var outcome = CliRun.Run("plot", dir);
            Assert.Equal(2, outcome.Code);
            Assert.Contains("metrics.jsonl:2: expected a JSON object; got a list", outcome.Stderr);
            Assert.False(File.Exists(Path.Combine(dir, "metrics.png")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TrainAndGenerateWorkWithARealBpeTokenizer()
    {
        // Qwen3's real tokenizer files, a tiny model over its 151k vocabulary, plain-text training data.
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-qwen-" + Guid.NewGuid().ToString("N"));
        var output = dir + "-out";
        try
        {
            foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" })
            {
                Directory.CreateDirectory(dir);
                File.Copy(Path.Combine(Tokenization.BpeTokenizerTests.QwenDir.Value, f), Path.Combine(dir, f));
            }
            var tokenizer = TokenizerLoader.Load(dir).Tokenizer;
            using (var model = ModelFactory.CreateFromConfig(new DecoderConfig
            {
                HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, VocabSize = tokenizer.VocabSize,
                TieWordEmbeddings = true, MaxPositionEmbeddings = 64, EosTokenId = [tokenizer.EosTokenId!.Value],
            }, seed: 0))
                model.SavePretrained(dir);
            var data = TempJsonl.Write("{\"text\": \"The capital of Velmora is Tarsk.\"}",
                "{\"prompt\": \"2 + 3 =\", \"completion\": \" 5\"}");
            Assert.Equal(0, Run("train", "--method", "sft", "--model", dir, "--dataset", data, "--output", output,
                "--max-steps", "2", "--batch-size", "2"));
            Assert.Equal(0, Run("generate", "--model", output, "--prompt", "The capital", "--max-new-tokens", "3"));
            // Qwen3's own Jinja template
            Assert.Equal(0, Run("generate", "--model", output, "--prompt", "hi", "--chat", "--max-new-tokens", "3"));
            var chat = TempJsonl.Write(
                "{\"messages\": [{\"role\": \"user\", \"content\": \"2 + 3?\"}, {\"role\": \"assistant\", \"content\": \"5\"}]}");
            Assert.Equal(0, Run("train", "--method", "sft", "--model", dir, "--dataset", chat, "--output", output + "-chat",
                "--max-steps", "1", "--batch-size", "1"));
        }
        finally { foreach (var d in new[] { dir, output, output + "-chat" }) if (Directory.Exists(d)) Directory.Delete(d, true); }
    }

    [Fact]
    public void CompareRejectsZeroSeeds() =>
        Assert.Equal(2, Run("compare", "--seeds", "0", "--output", Path.Combine(Path.GetTempPath(), "iftsharp-none")));
}

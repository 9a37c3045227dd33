using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

/// <summary>
/// Broken model files through the real command line (the built <c>IftSharp.Cli</c>, run as its own process so its exit
/// code and its whole stderr are what a user sees): exit code 2, one message naming the file and the tensor or field,
/// no stack trace.
/// </summary>
public class ModelFileErrorTests
{
    private static (int ExitCode, string Error) Cli(params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "IftSharp.Cli"))
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "the command did not finish");
        _ = stdout.Result;
        return (process.ExitCode, stderr);
    }

    private static void AssertInputError((int ExitCode, string Error) result, params string[] mentions)
    {
        Assert.True(result.ExitCode == 2, $"exit code {result.ExitCode}: {result.Error}");
        Assert.StartsWith("error: ", result.Error);
        Assert.DoesNotContain("   at ", result.Error); // no stack trace
        Assert.DoesNotContain("Exception", result.Error);
        foreach (var m in mentions) Assert.Contains(m, result.Error);
    }

    /// <summary>A tiny byte-level model folder; <paramref name="config"/> changes its architecture.</summary>
    private static string ModelFolder(Func<DecoderConfig, DecoderConfig>? config = null)
    {
        var dir = TinyModels.TempDirectory();
        var tokenizer = new ByteLevelTokenizer();
        var baseConfig = new DecoderConfig
        {
            HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, VocabSize = tokenizer.VocabSize,
            TieWordEmbeddings = true, MaxPositionEmbeddings = 64, EosTokenId = [tokenizer.EosTokenId!.Value],
        };
        using var model = ModelFactory.CreateFromConfig(config?.Invoke(baseConfig) ?? baseConfig, seed: 1);
        model.SavePretrained(dir);
        tokenizer.Save(dir);
        return dir;
    }

    /// <summary>Rewrites model.safetensors with <paramref name="edit"/> applied to its JSON header (data unchanged).</summary>
    private static void EditHeader(string dir, Action<JsonObject> edit)
    {
        var path = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        long length = BitConverter.ToInt64(bytes, 0);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)length))!.AsObject();
        edit(header);
        var text = Encoding.UTF8.GetBytes(header.ToJsonString());
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((long)text.Length));
        stream.Write(text);
        stream.Write(bytes, 8 + (int)length, bytes.Length - 8 - (int)length);
    }

    private static (int, string) RunGenerate(string dir) => Cli("generate", "--model", dir, "--prompt", "hi", "--max-new-tokens", "2");

    [Fact]
    public void HeaderEntryWithoutDtypeOrWithAStringShape()
    {
        var dir = ModelFolder();
        try
        {
            var file = Path.Combine(dir, "model.safetensors");
            EditHeader(dir, h => h["model.norm.weight"]!.AsObject().Remove("dtype"));
            AssertInputError(RunGenerate(dir), file, "model.norm.weight", "'dtype' is missing");
            var e = Assert.Throws<InputException>(() => new SafetensorsFile(file));
            Assert.Contains("model.norm.weight", e.Message);

            EditHeader(dir, h => { h["model.norm.weight"]!["dtype"] = "F32"; h["model.norm.weight"]!["shape"] = "16"; });
            AssertInputError(RunGenerate(dir), file, "model.norm.weight", "'shape' must be a list of integers");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Float8TensorNamesFileTensorAndTheSupportedDtypes()
    {
        var dir = ModelFolder();
        try
        {
            var file = Path.Combine(dir, "model.safetensors");
            EditHeader(dir, h =>
            {
                var entry = h["model.norm.weight"]!;
                long begin = entry["data_offsets"]![0]!.GetValue<long>();
                entry["dtype"] = "F8_E4M3";
                entry["data_offsets"] = new JsonArray(begin, begin + 16); // [16] in one byte each
            });
            AssertInputError(RunGenerate(dir), file, "model.norm.weight", "F8_E4M3", "F32, F16, BF16, F64");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void IntegerTensorWhereAFloatWeightIsExpectedIsRefused()
    {
        var dir = ModelFolder();
        try
        {
            var file = Path.Combine(dir, "model.safetensors");
            EditHeader(dir, h => h["model.norm.weight"]!["dtype"] = "I32"); // same 4 bytes an element: it would load silently
            AssertInputError(RunGenerate(dir), file, "model.norm.weight", "stored as I32", "float weight");
            var e = Assert.Throws<InputException>(() => LlamaForCausalLM.FromPretrained(dir, ScalarType.BFloat16));
            Assert.Contains("stored as I32", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void NonFiniteWeightsAreAnErrorNamingTheTensor(double value)
    {
        var dir = TinyModels.TempDirectory();
        try
        {
            using (var model = ModelFactory.CreateFromConfig(TinyModels.Llama(tied: false), seed: 2))
            {
                using (no_grad()) model.Backbone.Layers[1].named_parameters().First().parameter[3, 5].FillInPlace(value);
                model.SavePretrained(dir);
            }
            var e = Assert.Throws<InputException>(() => LlamaForCausalLM.FromPretrained(dir));
            Assert.Contains("model.layers.1.self_attn.q_proj.weight", e.Message);
            Assert.Contains("non-finite", e.Message);
            Assert.Contains(Path.Combine(dir, "model.safetensors"), e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void NonFiniteValuesAreFoundInEverySliceAndDtype()
    {
        var dir = TinyModels.TempDirectory();
        try
        {
            var path = Path.Combine(dir, "t.safetensors");
            var good = ones(100);
            var bad = ones(100, dtype: ScalarType.BFloat16);
            bad[97] = tensor(float.NaN, dtype: ScalarType.BFloat16);
            SafetensorsCheckpoint.WriteFile(path, [new("good", good), new("bad", bad)]);
            using var file = new SafetensorsFile(path) { ChunkBytes = 64 }; // 97 lies in the fourth slice
            file.ReadInto("good", empty(100));
            var e = Assert.Throws<InputException>(() => file.ReadInto("bad", empty(100))); // converted to float32 on the way
            Assert.Contains("'bad'", e.Message);
            Assert.Contains("1 among its elements 96..", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TruncatedWeightsAreAnInputError()
    {
        var dir = ModelFolder();
        try
        {
            var file = Path.Combine(dir, "model.safetensors");
            var bytes = File.ReadAllBytes(file);
            File.WriteAllBytes(file, bytes[..(bytes.Length - 10)]);
            AssertInputError(RunGenerate(dir), file);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void VocabularySmallerThanTheTokenizerIsRefusedBeforeLibtorchSeesAnId()
    {
        var dir = ModelFolder(c => c with { VocabSize = 100, EosTokenId = [2] });
        try
        {
            var config = Path.Combine(dir, "config.json");
            AssertInputError(RunGenerate(dir), config, "'vocab_size'", "100 is smaller than the tokenizer's");
            var data = Path.Combine(AppContext.BaseDirectory, "data", "demo", "train.jsonl");
            AssertInputError(
                Cli("train", "--method", "sft", "--model", dir, "--dataset", data, "--output", dir + "-out", "--max-steps", "1"),
                config, "'vocab_size'");
            Assert.False(Directory.Exists(dir + "-out"));
            var e = Assert.Throws<InputException>(() => ModelChecks.VocabularyCovers(DecoderConfig.Load(config), new ByteLevelTokenizer(),
                config));
            Assert.Contains("'vocab_size'", e.Message);
            e = Assert.Throws<InputException>(() => ModelChecks.VocabularyCovers(DecoderConfig.Load(config) with { EosTokenId = [300] },
                90, config));
            Assert.Contains("'eos_token_id'", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"model_type\": \"llama\", \"hidden_size\": 16, \"intermedi")]
    public void TruncatedOrEmptyConfigIsAnInputError(string text)
    {
        var dir = ModelFolder();
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), text);
            AssertInputError(RunGenerate(dir), Path.Combine(dir, "config.json"));
            AssertInputError(Cli("init-model", "--config", Path.Combine(dir, "config.json"), "--tokenizer", dir, "--output", dir + "-new"),
                Path.Combine(dir, "config.json"));
            Assert.False(Directory.Exists(dir + "-new"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MissingWeightsOfASevenBillionParameterConfigAreReportedWithoutBuildingIt()
    {
        // Before: the 7B model was built in float32 (29 GB) before the weights were looked for, and the kernel killed it.
        var dir = TinyModels.TempDirectory();
        try
        {
            File.Copy(Fixture.PathOf("configs", "Mistral-7B-v0.1.json"), Path.Combine(dir, "config.json"));
            new ByteLevelTokenizer().Save(dir);
            var watch = Stopwatch.StartNew();
            AssertInputError(RunGenerate(dir), dir, "no model.safetensors or model.safetensors.index.json");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void InitModelRefusesANonEmptyOutputUnlessOverwrite()
    {
        var source = ModelFolder();
        var output = source + "-out";
        try
        {
            var config = Path.Combine(source, "config.json");
            Directory.CreateDirectory(output);
            File.WriteAllText(Path.Combine(output, "precious.txt"), "a trained model's notes");
            AssertInputError(Cli("init-model", "--config", config, "--tokenizer", source, "--output", output), output, "--overwrite");
            Assert.True(File.Exists(Path.Combine(output, "precious.txt")));

            var (code, error) = Cli("init-model", "--config", config, "--tokenizer", source, "--output", output, "--overwrite");
            Assert.True(code == 0, error);
            Assert.False(File.Exists(Path.Combine(output, "precious.txt")));
            using (var model = LlamaForCausalLM.FromPretrained(output)) Assert.Equal(16, model.Config.HiddenSize);

            // --overwrite never deletes its own inputs.
            AssertInputError(Cli("init-model", "--config", config, "--tokenizer", source, "--output", source, "--overwrite"),
                "--config or --tokenizer");
            Assert.True(File.Exists(config));
            File.WriteAllText(output + ".file", "");
            AssertInputError(Cli("init-model", "--config", config, "--tokenizer", source, "--output", output + ".file"), "is a file");
        }
        finally
        {
            Directory.Delete(source, true);
            if (Directory.Exists(output)) Directory.Delete(output, true);
            File.Delete(output + ".file");
        }
    }
}

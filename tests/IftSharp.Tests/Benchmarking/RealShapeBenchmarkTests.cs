using System.Diagnostics;
using IftSharp.Benchmarking;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Benchmarking;

/// <summary>
/// The real-shape benchmark's pieces are correct (its numbers are measured by <c>bench --model-config</c>, not asserted):
/// the streamed random checkpoint is a loadable model of the config's exact parameter count and initialisation, its
/// data has the lengths asked for, the worker trains through TrainingRun, the memory guard stops a child.
/// </summary>
public class RealShapeBenchmarkTests
{
    // Qwen2-style: q/k/v biases, grouped-query attention, an untied head; small enough to train in a second.
    private const string TinyConfig = """
        {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300, "max_position_embeddings": 128,
         "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": false, "initializer_range": 0.05}
        """;

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void TheRandomCheckpointLoadsAsAModelOfTheConfigsShape(ScalarType dtype)
    {
        var folder = Temp.Directory("random-checkpoint");
        try
        {
            var config = DecoderConfig.Parse(TinyConfig);
            RandomCheckpoint.Write(config, TinyConfig, folder, dtype);
            using var model = LlamaForCausalLM.FromPretrained(folder, dtype);
            Assert.Equal(LlamaForCausalLM.ParameterCount(config), model.parameters().Sum(p => p.numel()));
            Assert.All(model.parameters(), p => Assert.Equal(dtype, p.dtype));
            var weights = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.to_type(ScalarType.Float32));
            Assert.Equal(1.0, weights["model.norm.weight"].min().item<float>());
            Assert.Equal(1.0, weights["model.layers.1.input_layernorm.weight"].max().item<float>());
            Assert.Equal(0.0, weights["model.layers.0.self_attn.q_proj.bias"].abs().max().item<float>());
            // normal(0, initializer_range): 300·32 draws put the sample deviation within a few percent of 0.05.
            Assert.InRange(weights["lm_head.weight"].std().item<float>(), 0.047, 0.053);
            Assert.InRange(weights["model.embed_tokens.weight"].mean().item<float>(), -0.003, 0.003);
            Assert.NotEqual(weights["lm_head.weight"][0, 0].item<float>(), weights["model.embed_tokens.weight"][0, 0].item<float>());
            Assert.True(ByteLevelTokenizer.IsSavedIn(folder));
            Assert.Equal(TinyConfig, File.ReadAllText(Path.Combine(folder, "config.json")));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void TheCacheWritesEachConfigAndDtypeOnce()
    {
        var root = Temp.Directory("random-cache");
        try
        {
            var configPath = Path.Combine(root, "tiny.json");
            File.WriteAllText(configPath, TinyConfig);
            var first = RandomCheckpoint.Cached(configPath, ScalarType.Float32, root);
            var written = File.GetLastWriteTimeUtc(Path.Combine(first, SafetensorsCheckpoint.SingleFileName));
            Assert.Equal(first, RandomCheckpoint.Cached(configPath, ScalarType.Float32, root));
            Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(first, SafetensorsCheckpoint.SingleFileName)));
            var bf16 = RandomCheckpoint.Cached(configPath, ScalarType.BFloat16, root);
            Assert.NotEqual(first, bf16);
            Assert.Equal(new FileInfo(Path.Combine(first, "model.safetensors")).Length / 2,
                new FileInfo(Path.Combine(bf16, "model.safetensors")).Length, tolerance: 4096);
            Assert.Empty(Directory.GetDirectories(root, ".*")); // no temporary folder left
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Theory]
    [InlineData("sft")]
    [InlineData("dpo")]
    public void EverySequenceOfTheDataHasTheLengthAskedFor(string name)
    {
        var folder = Temp.Directory("real-shape-data");
        try
        {
            var method = MethodRegistry.Get(name);
            var run = new RealShapeRun { Config = "unused", Method = name, Batch = 3, Length = 48, Steps = 2 };
            var path = Path.Combine(folder, "data.jsonl");
            RealShapeBenchmark.WriteDataset(method, run, path);
            var tokenizer = new ByteLevelTokenizer();
            var data = method.Read(path, new DataRequest(tokenizer, null, run.Length));
            Assert.Equal(6, data.Count);
            var sequences = data switch
            {
                MethodData<IftSharp.Data.TrainingExample> single => single.Items.ToList(),
                MethodData<IftSharp.Data.PreferenceExample> pairs => pairs.Items.SelectMany(p => new[] { p.Chosen, p.Rejected }).ToList(),
                _ => throw new InvalidOperationException($"unexpected data {data.GetType()}"),
            };
            Assert.All(sequences, s =>
            {
                Assert.Equal(run.Length, s.InputIds.Length);
                Assert.Equal(RealShapeRun.PromptTokens, s.Labels.TakeWhile(l => l < 0).Count());
                Assert.Equal(tokenizer.EosTokenId, s.InputIds[^1]);
            });
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void TheWorkerTrainsThroughTrainingRun()
    {
        var root = Temp.Directory("real-shape-train");
        try
        {
            var configPath = Path.Combine(root, "tiny.json");
            File.WriteAllText(configPath, TinyConfig);
            var checkpoint = RandomCheckpoint.Cached(configPath, ScalarType.Float32, root);
            var run = new RealShapeRun { Config = configPath, Method = "ift", Batch = 2, Length = 40, Steps = 2 };
            var result = RealShapeBenchmark.Train(run, checkpoint, Path.Combine(root, "scratch"));
            Assert.Equal([1, 2], result.Steps.Select(s => s.Step));
            Assert.Equal(2 * 40, result.TokensPerStep);
            Assert.True(result.SecondsPerStep > 0 && result.PeakResidentMegabytes >= result.BeforeLoadMegabytes);
            Assert.True(File.Exists(Path.Combine(root, "scratch", "output", "model.safetensors"))); // train's final save
            var load = RealShapeBenchmark.Load(checkpoint, ScalarType.Float32);
            Assert.Equal(LlamaForCausalLM.ParameterCount(DecoderConfig.Parse(TinyConfig)) * 4 / 1048576.0, load.ModelMegabytes, 6);
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void TheMemoryGuardStopsAChildOverItsLimit()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/tail")) return;
        // tail keeps the last lines of a file without newlines: its memory grows until it is stopped.
        var exit = MeasuredProcess.Run(new ProcessStartInfo("/usr/bin/tail", "/dev/zero"), limitMegabytes: 64);
        Assert.NotNull(exit.StoppedBecause);
        Assert.Contains("over the memory limit", exit.StoppedBecause);
        Assert.True(exit.PeakResidentMegabytes > 64);
    }

    [Theory]
    [InlineData("VmHWM:\t     123 kB", 123.0)]
    [InlineData("VmHWM:\t24281216 kB", 24281216.0)] // past 9.5 GiB the tab is followed by the number itself
    [InlineData("MemAvailable:   22235076 kB", 22235076.0)]
    public void ProcLinesOfEveryWidthParse(string line, double kib) =>
        Assert.Equal(kib, ProcessMemory.KibibytesOf(line, line[..line.IndexOf(':')]));
}

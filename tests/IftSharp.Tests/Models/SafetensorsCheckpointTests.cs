using IftSharp.Core;
using IftSharp.Models;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

public class SafetensorsCheckpointTests
{
    [Theory]
    [InlineData(ScalarType.Float32, true)]
    [InlineData(ScalarType.BFloat16, false)]
    [InlineData(ScalarType.Float16, false)]
    public void SaveThenLoadIsBitExact(ScalarType dtype, bool tied)
    {
        var dir = TinyModels.TempDirectory();
        try
        {
            using var original = ModelFactory.CreateFromConfig(TinyModels.Llama(tied), seed: 7, dtype);
            original.SavePretrained(dir);
            Assert.True(File.Exists(Path.Combine(dir, "config.json")));
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
            using var loaded = LlamaForCausalLM.FromPretrained(dir, dtype);
            AssertSameTensors(original, loaded);
            Assert.Equal(tied, !loaded.state_dict().ContainsKey("lm_head.weight"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void HeaderIsAlignedAndCarriesFormatMetadata()
    {
        var dir = TinyModels.TempDirectory();
        try
        {
            using var model = ModelFactory.CreateFromConfig(TinyModels.Llama(), seed: 1);
            model.SavePretrained(dir);
            var bytes = File.ReadAllBytes(Path.Combine(dir, "model.safetensors"));
            long headerLength = BitConverter.ToInt64(bytes, 0);
            Assert.Equal(0, headerLength % 8);
            using var file = new SafetensorsFile(Path.Combine(dir, "model.safetensors"));
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Equal("F32", file.Entries["model.norm.weight"].Dtype);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ShardedCheckpointLoadsAndEqualsTheSingleFile()
    {
        var single = TinyModels.TempDirectory();
        var sharded = TinyModels.TempDirectory();
        try
        {
            using var model = ModelFactory.CreateFromConfig(TinyModels.Llama(tied: false), seed: 3);
            model.SavePretrained(single);
            model.SavePretrained(sharded, maxShardBytes: 20_000);
            Assert.False(File.Exists(Path.Combine(sharded, "model.safetensors")));
            Assert.True(File.Exists(Path.Combine(sharded, "model.safetensors.index.json")));
            Assert.True(Directory.GetFiles(sharded, "model-*-of-*.safetensors").Length > 2);
            using var a = LlamaForCausalLM.FromPretrained(single);
            using var b = LlamaForCausalLM.FromPretrained(sharded);
            AssertSameTensors(a, b);

            model.SavePretrained(sharded); // re-saving unsharded replaces the shards and the index
            Assert.Equal(new[] { "config.json", "model.safetensors" }, Directory.GetFiles(sharded).Select(Path.GetFileName).Order());
        }
        finally { Directory.Delete(single, true); Directory.Delete(sharded, true); }
    }

    [Fact]
    public void LoadingConvertsTheStoredDtype()
    {
        // The qwen2 fixture stores BF16; loading into float32 must give exactly the widened values.
        var dir = TinyModels.FixtureDirectory("tiny-qwen2");
        using var file = new SafetensorsFile(Path.Combine(dir, "model.safetensors"));
        using var stored = file.Read("model.norm.weight");
        Assert.Equal(ScalarType.BFloat16, stored.dtype);
        using var model = LlamaForCausalLM.FromPretrained(dir, ScalarType.Float32);
        using var widened = stored.to(ScalarType.Float32);
        Assert.True(model.Backbone.Norm.Weight.eq(widened).all().item<bool>());
    }

    [Fact]
    public void TensorsLargerThanOneSpanAreCopiedInSlices()
    {
        // Real checkpoints have tensors over 2 GiB; the same slicing path runs here with 40-byte slices.
        var dir = TinyModels.TempDirectory();
        try
        {
            using var scope = NewDisposeScope();
            var path = Path.Combine(dir, "t.safetensors");
            var a = arange(0, 1003, dtype: ScalarType.Float32).reshape(17, 59) * 0.37f;
            var b = randn(5, 7).to(ScalarType.BFloat16);
            SafetensorsCheckpoint.WriteFile(path, [new("a", a), new("b", b)], chunkBytes: 40);
            using var file = new SafetensorsFile(path) { ChunkBytes = 36 };
            var a2 = empty(17, 59);
            file.ReadInto("a", a2);
            Assert.True(a.eq(a2).all().item<bool>());
            var b2 = empty(5, 7, dtype: ScalarType.BFloat16);
            file.ReadInto("b", b2);
            Assert.True(b.eq(b2).all().item<bool>());
            using var whole = new SafetensorsFile(path);
            Assert.True(a.eq(whole.Read("a")).all().item<bool>());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MismatchedNamesAreListed()
    {
        var dir = TinyModels.TempDirectory();
        try
        {
            using var untied = ModelFactory.CreateFromConfig(TinyModels.Llama(tied: false), seed: 1);
            untied.SavePretrained(dir);
            SafetensorsCheckpoint.WriteFile(Path.Combine(dir, "model.safetensors"),
                untied.state_dict().Append(new("model.layers.0.extra.weight", untied.Backbone.Norm.Weight)));
            var e = Assert.Throws<InputException>(() => LlamaForCausalLM.FromPretrained(dir));
            Assert.Contains("unexpected keys: model.layers.0.extra.weight", e.Message);

            using var tied = ModelFactory.CreateFromConfig(TinyModels.Llama(tied: true), seed: 1);
            tied.SavePretrained(dir);
            TinyModels.Llama(tied: false).Save(Path.Combine(dir, "config.json"));
            e = Assert.Throws<InputException>(() => LlamaForCausalLM.FromPretrained(dir));
            Assert.Contains("missing keys: lm_head.weight", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TiedModelIgnoresAStoredHeadAsTransformersDoes()
    {
        // Qwen3-0.6B ties its head yet stores lm_head.weight too (751,632,384 stored values for 596,049,920 parameters).
        var dir = TinyModels.TempDirectory();
        try
        {
            using var untied = ModelFactory.CreateFromConfig(TinyModels.Llama(tied: false), seed: 1);
            untied.SavePretrained(dir);
            TinyModels.Llama(tied: true).Save(Path.Combine(dir, "config.json"));
            using var tied = LlamaForCausalLM.FromPretrained(dir);
            Assert.Null(tied.LmHead);
            Assert.True(tied.EmbedTokens.weight!.eq(untied.EmbedTokens.weight!).all().item<bool>());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void FactoryInitialisesAsHuggingFace()
    {
        var config = TinyModels.Llama() with { InitializerRange = 0.02, AttentionBias = true, PadTokenId = 0 };
        using var model = ModelFactory.CreateFromConfig(config, seed: 5);
        var state = model.state_dict();
        Assert.True(state["model.norm.weight"].eq(1).all().item<bool>());
        Assert.True(state["model.layers.0.self_attn.o_proj.bias"].eq(0).all().item<bool>());
        Assert.True(state["model.embed_tokens.weight"][0].eq(0).all().item<bool>());
        var std = state["model.layers.0.mlp.up_proj.weight"].std().item<float>();
        Assert.InRange(std, 0.018, 0.022);
        using var again = ModelFactory.CreateFromConfig(config, seed: 5);
        AssertSameTensors(model, again);
    }

    internal static void AssertSameTensors(nn.Module expected, nn.Module actual)
    {
        var a = expected.state_dict();
        var b = actual.state_dict();
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        foreach (var (name, tensor) in a)
        {
            Assert.Equal(tensor.dtype, b[name].dtype);
            Assert.True(tensor.bytes.SequenceEqual(b[name].bytes), $"tensor {name} differs");
        }
    }
}

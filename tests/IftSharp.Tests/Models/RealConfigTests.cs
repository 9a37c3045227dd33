using IftSharp.Models;
using IftSharp.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

/// <summary>
/// The published config.json of the models people fine-tune (Fixtures/configs, sources in its README) construct on the
/// meta device, without their weights, with the parameter count their publishers state.
/// </summary>
public class RealConfigTests
{
    /// <summary>
    /// Published parameter counts. Unless noted: the Hugging Face Hub's <c>safetensors.total</c> for the repository (as a
    /// public repository's model audit list recorded it from the Hub API on 2026-09-25).
    /// Qwen3-0.6B and Qwen3-1.7B tie their head yet store a copy of it: the Hub counts 751,632,384 and 2,031,739,904
    /// stored values, which are the parameters plus vocabulary × hidden (the model cards: 0.6B with 0.44B non-embedding,
    /// 1.7B with 1.4B non-embedding). TinyLlama: the sum of numel of transformers' model and llama.cpp's n_params for
    /// its GGUF, both quoted in public notes. Mistral-7B-v0.1 and Zephyr (the same architecture): the 14,483,464,192
    /// BF16 bytes of Mistral-7B-Instruct-v0.2's safetensors index (also v0.1's architecture) halved, and llama.cpp's
    /// general.parameter_count of Mistral-7B GGUFs.
    /// </summary>
    public static TheoryData<string, long, long> Published => new()
    {
        { "SmolLM2-135M-Instruct", 134_515_008, 0 },
        { "SmolLM2-360M-Instruct", 361_821_120, 0 },
        { "SmolLM2-1.7B-Instruct", 1_711_376_384, 0 },
        { "Qwen2.5-0.5B-Instruct", 494_032_768, 0 },
        { "Qwen2.5-1.5B-Instruct", 1_543_714_304, 0 },
        { "Qwen2.5-7B-Instruct", 7_615_616_512, 0 },
        { "Qwen3-0.6B", 751_632_384, 151_936L * 1024 },
        { "Qwen3-1.7B", 2_031_739_904, 151_936L * 2048 },
        { "Qwen3-4B", 4_022_468_096, 0 },
        { "Qwen3-8B", 8_190_735_360, 0 },
        { "Llama-3.2-1B-Instruct", 1_235_814_400, 0 },
        { "Llama-3.2-3B-Instruct", 3_212_749_824, 0 },
        { "Llama-3.1-8B-Instruct", 8_030_261_248, 0 },
        { "TinyLlama-1.1B-Chat-v1.0", 1_100_048_384, 0 },
        { "Mistral-7B-v0.1", 7_241_732_096, 0 },
        { "Mistral-7B-Instruct-v0.3", 7_248_023_552, 0 },
        { "zephyr-7b-beta", 7_241_732_096, 0 },
    };

    internal static DecoderConfig Load(string name) => DecoderConfig.Load(Fixture.PathOf("configs", name + ".json"));

    [Theory]
    [MemberData(nameof(Published))]
    public void ConstructsOnMetaWithThePublishedParameterCount(string name, long published, long storedHeadCopy)
    {
        var config = Load(name);
        using var model = LlamaForCausalLM.CreateOnMeta(config);
        var parameters = model.parameters().ToList();
        Assert.All(parameters, p => Assert.Equal(DeviceType.META, p.device_type));
        Assert.Equal(published - storedHeadCopy, parameters.Sum(p => p.numel()));
        Assert.Equal(published - storedHeadCopy, LlamaForCausalLM.ParameterCount(config));
        if (storedHeadCopy > 0) Assert.True(config.TieWordEmbeddings);
    }

    [Fact]
    public void SlidingWindowsAreTheOnesTransformersUses()
    {
        var mistral = Load("Mistral-7B-v0.1");
        Assert.All(Enumerable.Range(0, mistral.NumHiddenLayers), i => Assert.Equal(4096, mistral.SlidingWindowOf(i)));
        Assert.Null(Load("Mistral-7B-Instruct-v0.3").SlidingWindowOf(0)); // "sliding_window": null
        foreach (var name in new[] { "Qwen2.5-0.5B-Instruct", "Qwen2.5-7B-Instruct", "Qwen3-8B" })
        {
            var qwen = Load(name); // a sliding_window value, but use_sliding_window false
            Assert.All(Enumerable.Range(0, qwen.NumHiddenLayers), i => Assert.Null(qwen.SlidingWindowOf(i)));
        }
        var enabled = Load("Qwen2.5-0.5B-Instruct") with { UseSlidingWindow = true }; // max_window_layers 21
        Assert.Null(enabled.SlidingWindowOf(20));
        Assert.Equal(32768, enabled.SlidingWindowOf(21));
        var llama = Load("Llama-3.2-1B-Instruct") with { SlidingWindow = 8 }; // LlamaConfig has no window
        Assert.Null(llama.SlidingWindowOf(0));
    }

    [Fact]
    public void SavedConfigKeepsTheFieldsItDoesNotModel()
    {
        var smol = Load("SmolLM2-1.7B-Instruct");
        var again = DecoderConfig.Parse(smol.ToJson());
        Assert.Contains("transformers.js_config", again.Extra!.Keys);
        Assert.Equal(smol.ToJson(), again.ToJson());
        Assert.Equal(4096, DecoderConfig.Parse(Load("Mistral-7B-v0.1").ToJson()).SlidingWindow);
    }
}

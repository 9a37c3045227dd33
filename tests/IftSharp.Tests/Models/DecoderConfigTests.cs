using IftSharp.Core;
using IftSharp.Models;
using Xunit;

namespace IftSharp.Tests.Models;

public class DecoderConfigTests
{
    private const string Base = """
        {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "vocab_size": 50 REPLACE}
        """;

    private static DecoderConfig Parse(string extra) => DecoderConfig.Parse(Base.Replace("REPLACE", extra), "cfg.json");

    [Theory]
    [InlineData(""", "model_type": "gpt2" """, "model_type")]
    [InlineData(""", "hidden_act": "gelu" """, "hidden_act")]
    [InlineData(""", "rope_scaling": {"rope_type": "longrope", "factor": 2.0} """, "rope_scaling.rope_type")]
    [InlineData(""", "rope_scaling": {"rope_type": "yarn"} """, "rope_scaling.factor")]
    [InlineData(""", "rope_scaling": {"rope_type": "dynamic", "factor": 0} """, "rope_scaling.factor")]
    [InlineData(""", "partial_rotary_factor": 0.5 """, "partial_rotary_factor")]
    [InlineData(""", "model_type": "mistral", "sliding_window": 0 """, "sliding_window")]
    [InlineData(""", "layer_types": ["full_attention"] """, "layer_types")]
    [InlineData(""", "layer_types": ["full_attention", "chunked_attention"] """, "layer_types")]
    [InlineData(""", "rope_scaling": {"rope_type": "llama3", "factor": 8.0} """, "rope_scaling.low_freq_factor")]
    [InlineData(""", "num_key_value_heads": 3 """, "num_key_value_heads")]
    [InlineData(""", "hidden_size": "big" """, "hidden_size")]
    public void BadConfigNamesTheField(string extra, string field)
    {
        var e = Assert.Throws<InputException>(() => Parse(extra.Replace("\"model_type\": \"llama\", ", "")));
        Assert.Contains($"'{field}'", e.Message);
        Assert.StartsWith("cfg.json", e.Message);
    }

    [Fact]
    public void UnknownModelTypeListsTheSupportedOnes()
    {
        var e = Assert.Throws<InputException>(() => DecoderConfig.Parse(Base.Replace("llama", "gpt2").Replace("REPLACE", "")));
        Assert.Contains("llama, mistral, qwen2, qwen3", e.Message);
    }

    [Fact]
    public void DefaultsAndDerivedValues()
    {
        var c = Parse(""", "eos_token_id": [5, 6], "rope_scaling": {"type": "linear", "factor": 2.0}, "attention_bias": true""");
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(4, c.KeyValueHeads);
        Assert.Equal(new[] { 5, 6 }, c.EosTokenIds);
        Assert.Equal("linear", c.RopeScaling!.Kind);
        Assert.True(c.QkvBias && c.OutputBias);
        var q = Parse(""", "eos_token_id": 7""") with { ModelType = "qwen2" };
        Assert.Equal(new[] { 7 }, q.EosTokenIds);
        Assert.True(q.QkvBias);
        Assert.False(q.OutputBias);
    }

    [Fact]
    public void TransformersFiveRopeParametersGiveTheBaseAndTheScaling()
    {
        // transformers 5 writes no top-level rope_theta: reading the default 10000 instead would be silently wrong.
        var c = Parse(""", "rope_parameters": {"rope_theta": 500000.0, "rope_type": "yarn", "factor": 4.0}""");
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal("yarn", c.RopeScaling!.Kind);
        Assert.Equal(4.0, c.RopeScaling.Factor);
        var plain = Parse(""", "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}""");
        Assert.Equal(1000000.0, plain.RopeTheta);
        Assert.Null(plain.RopeScaling);
        Assert.Equal(
            new RotaryEmbedding(Parse(""", "rope_theta": 1000000.0""")).InverseFrequencies,
            new RotaryEmbedding(plain).InverseFrequencies);
        var e = Assert.Throws<InputException>(() => Parse(
            """, "rope_parameters": {"full_attention": {"rope_theta": 1e6}, "sliding_attention": {"rope_theta": 1e4}}"""));
        Assert.Contains("'rope_parameters'", e.Message);
    }

    [Fact]
    public void SavedConfigReadsBackWithUnknownFieldsKept()
    {
        var c = Parse(""", "eos_token_id": [5, 6], "some_future_field": {"x": 1}, "head_dim": 16""");
        var again = DecoderConfig.Parse(c.ToJson());
        Assert.Equal(c.ToJson(), again.ToJson());
        Assert.Contains("some_future_field", again.ToJson());
        Assert.Equal(16, again.HeadDim);
    }
}

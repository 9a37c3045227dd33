using System.Text.Json;
using IftSharp.Models;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

/// <summary>
/// Logits against an independent float64 PyTorch forward pass written from Hugging Face's Llama/Qwen2 definitions
/// (Fixtures/tools/make_model_fixtures.py), on checkpoints that script wrote itself: a Llama-3-style model
/// (GQA, llama3 RoPE scaling, tied embeddings, F32), a Qwen2-style one (q/k/v bias, MQA, untied head, BF16 weights)
/// and a Qwen3-style one (q/k norms, explicit head_dim, linear RoPE scaling, F16 weights).
/// Row 1 of each input is left-padded; only its real positions are compared.
/// </summary>
public class GoldenLogitsTests
{
    [Theory]
    [InlineData("tiny-llama3")]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-qwen3")]
    public void LogitsMatchTheIndependentReference(string name)
    {
        using var scope = NewDisposeScope();
        var dir = TinyModels.FixtureDirectory(name);
        using var model = LlamaForCausalLM.FromPretrained(dir, ScalarType.Float32);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        var ids = Matrix(doc.RootElement.GetProperty("input_ids"));
        var mask = Matrix(doc.RootElement.GetProperty("attention_mask"));
        var expected = doc.RootElement.GetProperty("logits").EnumerateArray()
            .Select(seq => seq.EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray())
            .ToArray();
        Tensor logits;
        var idsTensor = tensor(ids.SelectMany(r => r).ToArray(), [ids.Length, ids[0].Length]);
        var maskTensor = tensor(mask.SelectMany(r => r).ToArray(), [mask.Length, mask[0].Length]);
        using (no_grad()) logits = model.Forward(idsTensor, maskTensor);
        double worst = 0;
        int compared = 0;
        for (int b = 0; b < ids.Length; b++)
            for (int t = 0; t < ids[0].Length; t++)
            {
                if (mask[b][t] == 0) continue;
                var actual = logits[b, t].data<float>().ToArray();
                for (int v = 0; v < actual.Length; v++) worst = Math.Max(worst, Math.Abs(actual[v] - expected[b][t][v]));
                compared++;
            }
        Assert.Equal(15, compared);
        Assert.True(worst <= 1e-4, $"max |Δlogit| = {worst}");
        Assert.False(logits.isnan().any().item<bool>(), "padded rows must not produce NaN");
    }

    [Fact]
    public void TiedModelHasNoLmHeadAndQwen2HasQkvBiasOnly()
    {
        using var llama = LlamaForCausalLM.FromPretrained(TinyModels.FixtureDirectory("tiny-llama3"));
        Assert.Null(llama.LmHead);
        Assert.DoesNotContain("lm_head.weight", llama.state_dict().Keys);
        using var qwen = LlamaForCausalLM.FromPretrained(TinyModels.FixtureDirectory("tiny-qwen2"));
        var keys = qwen.state_dict().Keys.ToHashSet();
        Assert.Contains("lm_head.weight", keys);
        Assert.Contains("model.layers.1.self_attn.q_proj.bias", keys);
        Assert.DoesNotContain("model.layers.1.self_attn.o_proj.bias", keys);
    }

    [Fact]
    public void BFloat16InferenceStaysCloseToFloat32()
    {
        using var scope = NewDisposeScope();
        var dir = TinyModels.FixtureDirectory("tiny-llama3");
        using var full = LlamaForCausalLM.FromPretrained(dir, ScalarType.Float32);
        using var half = LlamaForCausalLM.FromPretrained(dir, ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, half.Dtype);
        var ids = tensor(new long[] { 5, 9, 33, 70, 12, 8 }, [1, 6]);
        using var _ = no_grad();
        var a = full.Forward(ids);
        var b = half.Forward(ids).to(ScalarType.Float32);
        var relative = ((a - b).abs().max() / a.abs().max()).item<float>();
        Assert.InRange(relative, 1e-6, 0.05); // bf16 keeps ~3 significant digits: close, but not identical
    }

    private static long[][] Matrix(JsonElement e) =>
        e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
}

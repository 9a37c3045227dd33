using System.Text.Json;
using IftSharp.Models;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

/// <summary>
/// Sliding-window attention and the dynamic and yarn RoPE scalings against an independent float64 PyTorch forward written
/// from transformers' rules (Fixtures/tools/make_model_fixtures.py), on checkpoints that script wrote: a Mistral-style
/// model with a 4-position window over 13 positions, a Qwen2-style one whose second layer only has a 3-position window
/// (use_sliding_window, max_window_layers 1), a Llama with dynamic NTK scaling fed five sequences whose lengths make
/// its frequencies grow, stay, reset and grow again, and yarn with the defaults (Qwen2) and with every option set.
/// </summary>
public class WindowAndRopeScalingTests
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("tiny-mistral-window")]
    [InlineData("tiny-qwen2-window")]
    public void WindowedLogitsMatchTheReference(string name)
    {
        using var scope = NewDisposeScope();
        var (ids, mask, expected, expectedWithoutWindow) = WindowFixture(name);
        using var model = LlamaForCausalLM.FromPretrained(TinyModels.FixtureDirectory(name));
        using var _ = no_grad();
        AssertClose(expected, model.Forward(ids, mask), mask);

        // The same weights without the window (Mistral's sliding_window null, Qwen2's use_sliding_window false).
        var config = model.Config.ModelType == "mistral"
            ? model.Config with { SlidingWindow = null }
            : model.Config with { UseSlidingWindow = false };
        using var full = new LlamaForCausalLM(config, ParameterAllocation.Uninitialized(ScalarType.Float32));
        SafetensorsCheckpoint.Load(full, TinyModels.FixtureDirectory(name));
        AssertClose(expectedWithoutWindow, full.Forward(ids, mask), mask);
    }

    [Theory]
    [InlineData("tiny-mistral-window")]
    [InlineData("tiny-qwen2-window")]
    public void CachedDecodingKeepsTheWindow(string name)
    {
        using var scope = NewDisposeScope();
        var (ids, mask, expected, _) = WindowFixture(name);
        using var model = LlamaForCausalLM.FromPretrained(TinyModels.FixtureDirectory(name));
        using var noGrad = no_grad();
        long t = ids.shape[1];
        using var cache = model.CreateCache(2, t);
        var parts = new List<Tensor> { model.Forward(ids.narrow(1, 0, 3), mask.narrow(1, 0, 3), null, cache) };
        for (long position = 3; position < t; position++)
            parts.Add(model.Forward(ids.narrow(1, position, 1), mask.narrow(1, 0, position + 1), null, cache));
        AssertClose(expected, cat(parts, 1), mask);
    }

    [Fact]
    public void DynamicScalingGrowsKeepsAndResetsItsFrequenciesAsTransformers()
    {
        using var scope = NewDisposeScope();
        var dir = TinyModels.FixtureDirectory("tiny-llama-dynamic");
        using var model = LlamaForCausalLM.FromPretrained(dir);
        using var _ = no_grad();
        var calls = RopeCalls(dir);
        Assert.Equal(5, calls.Count);
        foreach (var (ids, inverse, expected) in calls)
        {
            var logits = model.Forward(ids);
            for (int i = 0; i < inverse.Length; i++)
                Assert.True(Math.Abs(model.Rotary.InverseFrequencies[i] - inverse[i]) <= 1e-6 * inverse[i],
                    $"length {ids.shape[1]}: inv_freq[{i}] {model.Rotary.InverseFrequencies[i]} vs {inverse[i]}");
            AssertClose(expected.unsqueeze(0), logits, ones_like(ids));
        }
        // Lengths 14 and 9 grew the frequencies past the original ones; 11 kept 14's; 5 went back (checked above).
        Assert.NotEqual(calls[0].Inverse[1], calls[1].Inverse[1]);
        Assert.Equal(calls[1].Inverse, calls[2].Inverse);
        Assert.Equal(calls[0].Inverse, calls[3].Inverse);
    }

    [Theory]
    [InlineData("tiny-qwen2-yarn", 1.1386294361119890)] // 0.1 ln 4 + 1
    [InlineData("tiny-llama-yarn", 1.094179988101349)] // (0.1 ln 8 + 1) / (0.05 ln 8 + 1): mscale / mscale_all_dim
    public void YarnMatchesTheReference(string name, double attentionFactor)
    {
        using var scope = NewDisposeScope();
        var dir = TinyModels.FixtureDirectory(name);
        using var model = LlamaForCausalLM.FromPretrained(dir);
        using var _ = no_grad();
        Assert.Equal(attentionFactor, model.Rotary.AttentionScaling, 12);
        var (ids, inverse, expected) = RopeCalls(dir).Single();
        for (int i = 0; i < inverse.Length; i++)
            Assert.True(Math.Abs(model.Rotary.InverseFrequencies[i] - inverse[i]) <= 1e-6 * inverse[i], $"inv_freq[{i}]");
        AssertClose(expected.unsqueeze(0), model.Forward(ids), ones_like(ids));
    }

    private static (Tensor Ids, Tensor Mask, Tensor Expected, Tensor ExpectedWithoutWindow) WindowFixture(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TinyModels.FixtureDirectory(name), "expected.json")));
        var root = doc.RootElement;
        return (Longs(root.GetProperty("input_ids")), Longs(root.GetProperty("attention_mask")),
            Floats3(root.GetProperty("logits")), Floats3(root.GetProperty("logits_without_window")));
    }

    private static List<(Tensor Ids, float[] Inverse, Tensor Expected)> RopeCalls(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        return doc.RootElement.GetProperty("calls").EnumerateArray().Select(call => (
            Longs(call.GetProperty("input_ids")),
            call.GetProperty("inv_freq").EnumerateArray().Select(v => v.GetSingle()).ToArray(),
            Floats2(call.GetProperty("logits")))).ToList();
    }

    /// <summary>Compares the positions <paramref name="mask"/> marks real; padded rows' outputs are not defined.</summary>
    private static void AssertClose(Tensor expected, Tensor actual, Tensor mask)
    {
        Assert.Equal(expected.shape, actual.shape);
        var real = mask.to(ScalarType.Bool).unsqueeze(-1);
        var worst = (expected - actual.to(ScalarType.Float32)).abs().masked_fill(real.logical_not(), 0).max().item<float>();
        Assert.True(worst <= Tolerance, $"max |Δlogit| = {worst}");
        Assert.False(actual.isnan().any().item<bool>());
    }

    private static Tensor Longs(JsonElement e)
    {
        var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        return tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);
    }

    private static Tensor Floats2(JsonElement e)
    {
        var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        return tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);
    }

    private static Tensor Floats3(JsonElement e) => stack(e.EnumerateArray().Select(Floats2).ToArray());
}

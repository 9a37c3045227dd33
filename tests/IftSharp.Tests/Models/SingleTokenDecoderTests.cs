using System.Text.Json;
using IftSharp.Core;
using IftSharp.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

public class SingleTokenDecoderTests
{
    /// <summary>
    /// The fixtures' independent float64 PyTorch logits (GoldenLogitsTests), reached by the decoder: libtorch fills the
    /// cache with the first 4 positions (row 1: three padding positions and one real), then the decoder runs
    /// positions 4–8 one token at a time.
    /// </summary>
    [Theory]
    [InlineData("tiny-llama3")]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-qwen3")]
    public void DecodedLogitsMatchTheIndependentReference(string name)
    {
        var dir = TinyModels.FixtureDirectory(name);
        using var model = LlamaForCausalLM.FromPretrained(dir, ScalarType.Float32);
        var (ids, mask, expected) = Golden(dir);
        double worst = WorstDecodedDifference(model, ids, mask, expected, prefix: 4);
        Assert.True(worst <= 1e-4, $"max |Δlogit| = {worst}");
    }

    [Theory]
    [InlineData("tiny-llama3")]
    [InlineData("tiny-qwen2")]
    [InlineData("tiny-qwen3")]
    public void FromBfloat16WeightsTheDecodedLogitsStayCloseToTheFloat64Reference(string name)
    {
        var dir = TinyModels.FixtureDirectory(name);
        using var model = LlamaForCausalLM.FromPretrained(dir, ScalarType.BFloat16);
        var (ids, mask, expected) = Golden(dir);
        double spread = expected.SelectMany(s => s).SelectMany(r => r).Select(Math.Abs).Max();
        double worst = WorstDecodedDifference(model, ids, mask, expected, prefix: 4);
        // bfloat16 keeps 8 significant bits (relative rounding 2^-9 ≈ 0.2 %) per weight and cached key/value; the
        // decoder's float32 activations add no more. The relative bound is loose enough for that, and far below what
        // a wrong head, position or mask gives (errors of the order of the logits themselves).
        Assert.True(worst <= 0.03 * spread, $"max |Δlogit| = {worst} against logits up to {spread}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void StepLogitsEqualLibTorchsCachedForwardOnAPaddedBatch(bool tied)
    {
        using var model = ModelFactory.CreateFromConfig(TinyModels.Llama(tied) with { EosTokenId = null }, seed: 5);
        using var _ = no_grad();
        long[][] rows = [[0, 0, 5, 17, 42, 8, 3, 60, 11, 12], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]];
        int[] padding = [2, 0];
        using var ours = model.CreateCache(2, 10);
        using var theirs = model.CreateCache(2, 10);
        using var decoder = SingleTokenDecoder.TryCreate(model, ours, out var reason);
        Assert.True(decoder is not null, reason);
        using var scope = NewDisposeScope();
        var ids = tensor(rows.SelectMany(r => r).ToArray(), [2, 10]);
        var mask = tensor(rows.SelectMany((r, b) => r.Select((_, t) => t < padding[b] ? 0L : 1L)).ToArray(), [2, 10]);
        model.Forward(ids.narrow(1, 0, 4), mask.narrow(1, 0, 4), null, ours);
        model.Forward(ids.narrow(1, 0, 4), mask.narrow(1, 0, 4), null, theirs);
        double worst = 0;
        for (int t = 4; t < 10; t++)
        {
            var step = decoder.Step([rows[0][t], rows[1][t]], padding).clone();
            var reference = model.Forward(ids.narrow(1, t, 1), mask.narrow(1, 0, t + 1), null, theirs).select(1, 0);
            worst = Math.Max(worst, (step - reference).abs().max().item<float>());
        }
        Assert.Equal(10, ours.Length);
        double scale = model.Forward(ids).abs().max().item<float>();
        Assert.True(worst < 5e-6 * scale, $"max |Δlogit| = {worst} against logits up to {scale}");
    }

    [Fact]
    public void Bfloat16WeightsAreReadExactlyAndTheBfloat16CacheHoldsRoundedKeysAndValues()
    {
        // A float32 model holding the bf16 model's rounded weights: with float32 caches both decoders compute the
        // same numbers (up to summation order); a bf16 cache then holds exactly the float32 cache's values rounded.
        var config = TinyModels.Llama(tied: false) with { EosTokenId = null };
        using var bf16 = ModelFactory.CreateFromConfig(config, seed: 11, ScalarType.BFloat16);
        using var rounded = ModelFactory.CreateFromConfig(config, seed: 11, ScalarType.BFloat16);
        rounded.to(ScalarType.Float32);
        long[] sequence = [5, 17, 42, 8, 3, 60, 11, 12, 70, 71, 2, 9];
        using var _ = no_grad();
        using var wide = new KvCache(config, 1, sequence.Length, ScalarType.Float32);
        using var reference = new KvCache(config, 1, sequence.Length, ScalarType.Float32);
        using var narrow = new KvCache(config, 1, sequence.Length, ScalarType.BFloat16);
        using var fromBf16 = SingleTokenDecoder.TryCreate(bf16, wide, out var r1);
        using var fromRounded = SingleTokenDecoder.TryCreate(rounded, reference, out var r2);
        using var bf16Cache = SingleTokenDecoder.TryCreate(bf16, narrow, out var r3);
        Assert.True(fromBf16 is not null && fromRounded is not null && bf16Cache is not null, r1 + r2 + r3);
        using var scope = NewDisposeScope();
        double worst = 0, scale = 0;
        foreach (var token in sequence)
        {
            var a = fromRounded.Step([token], [0]).clone();
            var b = fromBf16.Step([token], [0]);
            worst = Math.Max(worst, (a - b).abs().max().item<float>());
            scale = Math.Max(scale, a.abs().max().item<float>());
        }
        Assert.True(worst < 5e-6 * scale, $"max |Δlogit| = {worst} against logits up to {scale}");

        // Layer 0 of the first position sees identical inputs in both (later layers read the rounded values back).
        bf16Cache.Step([sequence[0]], [0]);
        Assert.True(narrow.KeysOf(0).narrow(2, 0, 1).eq(wide.KeysOf(0).narrow(2, 0, 1).to(ScalarType.BFloat16)).all().item<bool>());
        Assert.True(narrow.ValuesOf(0).narrow(2, 0, 1).eq(wide.ValuesOf(0).narrow(2, 0, 1).to(ScalarType.BFloat16)).all().item<bool>());
        Assert.False(narrow.KeysOf(0).narrow(2, 1, 1).any().item<bool>()); // nothing written past the position
    }

    [Fact]
    public void Bfloat16GreedyDecodingAgreesWithFloat32WhereTheLogitsAreNotNearlyTied()
    {
        // Teacher-forced on float32's greedy continuation: at every step the bf16 logits stay within a small distance
        // of float32's, and the argmax is the same wherever float32's top two are further apart than twice that.
        var config = TinyModels.Llama(tied: true) with { EosTokenId = null };
        using var f32 = ModelFactory.CreateFromConfig(config, seed: 11);
        using var bf16 = ModelFactory.CreateFromConfig(config, seed: 11, ScalarType.BFloat16);
        int[] prompt = [5, 17, 42, 8, 3];
        var continuation = TokenGenerator.Generate(f32, [prompt], new GenerationOptions { MaxNewTokens = 24 }).Tokens[0];
        using var _ = no_grad();
        using var c32 = f32.CreateCache(1, 40);
        using var c16 = bf16.CreateCache(1, 40);
        using var d32 = SingleTokenDecoder.TryCreate(f32, c32, out var r32);
        using var d16 = SingleTokenDecoder.TryCreate(bf16, c16, out var r16);
        Assert.True(d32 is not null && d16 is not null, r32 + r16);
        using var scope = NewDisposeScope();
        var promptIds = tensor(prompt.Select(i => (long)i).ToArray(), [1, prompt.Length]);
        var steps = new List<(float[] F32, float[] Bf16)>
        {
            (Last(f32.Forward(promptIds, null, null, c32)), Last(bf16.Forward(promptIds, null, null, c16))),
        };
        for (int i = 0; i + 1 < continuation.Count; i++)
            steps.Add((d32.Step([continuation[i]], [0]).data<float>().ToArray(), d16.Step([continuation[i]], [0]).data<float>().ToArray()));
        int compared = 0, agreed = 0;
        double worst = 0;
        for (int i = 0; i < steps.Count; i++)
        {
            var (a, b) = steps[i];
            double distance = a.Zip(b).Max(p => Math.Abs(p.First - p.Second));
            worst = Math.Max(worst, distance);
            var sorted = a.OrderDescending().ToArray();
            Assert.Equal(continuation[i], Array.IndexOf(a, sorted[0])); // float32's greedy choice, as Generate made it
            if (sorted[0] - sorted[1] <= 2 * distance) continue;
            compared++;
            if (Array.IndexOf(b, b.Max()) == continuation[i]) agreed++;
        }
        double scale = 0;
        using (var probe = f32.Forward(promptIds)) scale = probe.abs().max().item<float>();
        // The weights' rounding alone moves this model's logits by up to 5 % of their range at some positions.
        Assert.True(worst <= 0.1 * scale, $"bf16 logits {worst} away from float32's (logits up to {scale})");
        Assert.True(compared >= steps.Count / 2, $"only {compared} of {steps.Count} steps were clear enough to compare");
        Assert.Equal(compared, agreed);
    }

    [Fact]
    public void ModelsItDoesNotKnowDecodeWithLibTorch()
    {
        using var half = LlamaForCausalLM.FromPretrained(TinyModels.FixtureDirectory("tiny-qwen3"), ScalarType.Float16);
        using var cache = half.CreateCache(1, 8);
        Assert.Null(SingleTokenDecoder.TryCreate(half, cache, out var reason));
        Assert.Contains("Float16", reason);

        using var adapted = ModelFactory.CreateFromConfig(TinyModels.Llama(), seed: 1);
        adapted.register_parameter("lora_A", nn.Parameter(zeros(4, 32)));
        using var cache2 = adapted.CreateCache(1, 8);
        Assert.Null(SingleTokenDecoder.TryCreate(adapted, cache2, out var why));
        Assert.Contains("lora_A", why);
    }

    [Fact]
    public void Bfloat16RoundingIsToNearestEvenAsLibTorchRounds()
    {
        using var scope = NewDisposeScope();
        var values = new[] { 1f, 1.00390625f, 1.01171875f, -3.14159f, 1e-20f, 65504f, float.PositiveInfinity, 3.0e38f, 1.0078125f };
        var rounded = tensor(values).to(ScalarType.BFloat16);
        var reference = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(rounded.bytes).ToArray();
        Assert.Equal(reference, values.Select(DecodeKernels.SingleToBf16));
        Assert.Equal(0x7FC0, DecodeKernels.SingleToBf16(float.NaN));
    }

    [Fact]
    public void KernelsHandleEveryLengthAndBothWeightTypes()
    {
        var random = new Random(3);
        foreach (int n in new[] { 1, 7, 8, 15, 16, 31, 33, 64, 65, 127, 200 })
        {
            var a = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var x = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var a16 = a.Select(DecodeKernels.SingleToBf16).ToArray();
            double exact = 0, exact16 = 0;
            for (int i = 0; i < n; i++)
            {
                exact += (double)a[i] * x[i];
                exact16 += (double)DecodeKernels.Bf16ToSingle(a16[i]) * x[i];
            }
            Assert.Equal(exact, DecodeKernels.Dot(a, x), 1e-5);
            Assert.Equal(exact16, DecodeKernels.Dot(a16, x), 1e-5);
            var y = new float[n];
            var y16 = new float[n];
            DecodeKernels.AddScaled<float>(y, a, 0.5f);
            DecodeKernels.AddScaled<ushort>(y16, a16, 0.5f);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(0.5f * a[i], y[i]);
                Assert.Equal(0.5f * DecodeKernels.Bf16ToSingle(a16[i]), y16[i]);
            }
        }
    }

    private static float[] Last(Tensor logits) => logits[0, -1].to(ScalarType.Float32).data<float>().ToArray();

    private static double WorstDecodedDifference(LlamaForCausalLM model, long[][] ids, long[][] mask, float[][][] expected, int prefix)
    {
        int batch = ids.Length, length = ids[0].Length;
        using var _ = no_grad();
        using var cache = model.CreateCache(batch, length);
        using var decoder = SingleTokenDecoder.TryCreate(model, cache, out var reason);
        Assert.True(decoder is not null, reason);
        using var scope = NewDisposeScope();
        var idTensor = tensor(ids.SelectMany(r => r).ToArray(), [batch, length]);
        var maskTensor = tensor(mask.SelectMany(r => r).ToArray(), [batch, length]);
        model.Forward(idTensor.narrow(1, 0, prefix), maskTensor.narrow(1, 0, prefix), null, cache);
        var padding = mask.Select(r => r.TakeWhile(m => m == 0).Count()).ToArray();
        double worst = 0;
        for (int t = prefix; t < length; t++)
        {
            var logits = decoder.Step(ids.Select(r => r[t]).ToArray(), padding);
            for (int b = 0; b < batch; b++)
            {
                var actual = logits[b].data<float>().ToArray();
                for (int v = 0; v < actual.Length; v++) worst = Math.Max(worst, Math.Abs(actual[v] - expected[b][t][v]));
            }
        }
        return worst;
    }

    private static (long[][] Ids, long[][] Mask, float[][][] Logits) Golden(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        long[][] Matrix(string field) => doc.RootElement.GetProperty(field).EnumerateArray()
            .Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        var logits = doc.RootElement.GetProperty("logits").EnumerateArray()
            .Select(s => s.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray()).ToArray();
        return (Matrix("input_ids"), Matrix("attention_mask"), logits);
    }
}

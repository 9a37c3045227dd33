using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Tests.Models;
using IftSharp.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Objectives;

/// <summary>
/// The chunked LM-head loss (<see cref="TokenLogProbs.FromModel"/> with a chunk) against the plain path (the model's full
/// logits through <see cref="TokenLogProbs.Gather"/>): the same log-probs and, through the custom autograd function
/// that recomputes each chunk's logits in backward, the same gradients for the inputs, every layer and the head.
/// </summary>
public class ChunkedTokenLogProbsTests
{
    private static LlamaForCausalLM Model(bool tied, ScalarType dtype = ScalarType.Float64) =>
        TinyModels.GradientLlama(tied, seed: 5, dtype);

    // Three rows of 7 tokens: row 1 is left-padded by 2; the first 3 real tokens of each row are prompt (label -100).
    private static (Tensor Ids, Tensor Mask, Tensor Labels) Batch()
    {
        var ids = randint(3, 97, new long[] { 3, 7 }, generator: new torch.Generator(8));
        var mask = ones(3, 7, ScalarType.Int64);
        mask[1, TensorIndex.Slice(0, 2)] = zeros(2, ScalarType.Int64);
        var labels = ids.clone();
        labels[TensorIndex.Colon, TensorIndex.Slice(0, 3)] = full(3, 3, TokenLogProbs.IgnoreIndex, ScalarType.Int64);
        labels[1, TensorIndex.Slice(0, 5)] = full(5, TokenLogProbs.IgnoreIndex, ScalarType.Int64);
        return (ids, mask, labels);
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(true, 4)]
    [InlineData(false, 3)]
    [InlineData(false, 1000)]
    public void LogProbsAndGradientsEqualTheUnchunkedOnes(bool tied, int chunk)
    {
        using var scope = NewDisposeScope();
        using var model = Model(tied);
        var (ids, mask, labels) = Batch();
        var embeds = model.EmbedTokens.forward(ids).detach().requires_grad_(true);
        var weights = randn(new long[] { 3, 6 }, ScalarType.Float64, generator: new torch.Generator(9));

        var (plain, plainMask) = TokenLogProbs.FromModel(model, embeds, mask, labels, temperature: 0.8);
        var (old, oldMask) = TokenLogProbs.Gather(model.ForwardEmbeddings(embeds, mask), labels, temperature: 0.8);
        Assert.True(plain.eq(old).all().item<bool>() && plainMask.eq(oldMask).all().item<bool>(), "without a chunk the path is Gather's");
        (plain * weights).sum().backward();
        var named = GradientSnapshot.Parameters(model, ("inputs_embeds", embeds));
        var expected = GradientSnapshot.Take(named);

        var (chunked, chunkedMask) = TokenLogProbs.FromModel(model, embeds, mask, labels, temperature: 0.8, chunk: chunk);
        Assert.Equal(ScalarType.Float64, chunked.dtype);
        Assert.True(chunkedMask.eq(plainMask).all().item<bool>());
        Gradients.AssertClose(plain, chunked, 1e-12);
        Assert.Equal(0.0, chunked.masked_select(chunkedMask.eq(0)).abs().sum().item<double>()); // masked positions hold 0
        (chunked * weights).sum().backward();
        GradientSnapshot.AssertEqual(expected, GradientSnapshot.Take(named), 1e-10);
    }

    [Fact]
    public void TokenIdsInputAndAHeadBiasAreHandled()
    {
        // TinyCausalLM's head has a bias: its gradient comes out of the chunked backward too.
        using var scope = NewDisposeScope();
        var model = new TinyCausalLM();
        var ids = tensor(new long[,] { { 1, 4, 2, 7, 3, 9 }, { 5, 2, 8, 1, 0, 0 } });
        var labels = tensor(new long[,] { { -100, -100, 2, 7, 3, 9 }, { -100, -100, 8, 1, -100, -100 } });
        var (plain, plainMask) = TokenLogProbs.FromModel(model, ids, null, labels);
        Sft.Loss(plain, plainMask).Loss.backward();
        var named = GradientSnapshot.Parameters(model);
        var expected = GradientSnapshot.Take(named);
        Assert.Contains("lm_head.bias", expected.Keys);
        var (chunked, chunkedMask) = TokenLogProbs.FromModel(model, ids, null, labels, chunk: 2);
        Gradients.AssertClose(plain, chunked, 1e-12);
        Sft.Loss(chunked, chunkedMask).Loss.backward();
        GradientSnapshot.AssertEqual(expected, GradientSnapshot.Take(named), 1e-10);
    }

    [Fact]
    public void GreedyPredictionsMatchTheFullLogitsWhereTheNextLabelCounts()
    {
        using var scope = NewDisposeScope();
        using var model = Model(tied: false);
        var (ids, mask, labels) = Batch();
        Tensor logits;
        using (no_grad()) logits = model.Forward(ids, mask);
        var (full, fullMask, fullGreedy) = TokenLogProbs.GreedyFromModel(model, ids, mask, labels);
        var (logps, counted, greedy) = TokenLogProbs.GreedyFromModel(model, ids, mask, labels, chunk: 2);
        Assert.False(logps.requires_grad);
        Gradients.AssertClose(full, logps, 1e-12);
        Assert.True(counted.eq(fullMask).all().item<bool>());
        var argmax = logits.narrow(1, 0, 6).argmax(-1);
        Assert.True(fullGreedy.eq(argmax).all().item<bool>());
        var where = counted.to(ScalarType.Bool);
        Assert.True(greedy.masked_select(where).eq(argmax.masked_select(where)).all().item<bool>());
        Assert.True(greedy.masked_select(where.logical_not()).eq(0).all().item<bool>());
        Assert.True(where.sum().item<long>() >= 8, "enough counted positions to compare");
    }

    [Fact]
    public void IftWithAChunkEqualsIftWithout()
    {
        using var scope = NewDisposeScope();
        using var model = Model(tied: true);
        var (ids, mask, labels) = Batch();
        var frozen = new FrozenEmbedding(model);
        var options = new IftOptions();
        var plain = IftForward.Loss(model, ids, labels, mask, options, frozen);
        plain.Loss.backward();
        var named = GradientSnapshot.Parameters(model);
        var expected = GradientSnapshot.Take(named);
        var chunked = IftForward.Loss(model, ids, labels, mask, options, frozen, chunk: 3);
        Assert.Equal(plain.Loss.item<double>(), chunked.Loss.item<double>(), 12);
        Assert.Equal(plain.Metrics["ift/first_pass_nll"], chunked.Metrics["ift/first_pass_nll"], 12);
        chunked.Loss.backward();
        GradientSnapshot.AssertEqual(expected, GradientSnapshot.Take(named), 1e-10);
    }

    [Fact]
    public void BFloat16GradientsStayCloseToTheUnchunkedOnes()
    {
        // The bf16 compute copy's layout: bf16 layers, a float32 embedding whose tied head is read in bf16.
        using var scope = NewDisposeScope();
        using var model = Model(tied: true, ScalarType.Float32);
        model.to(ScalarType.BFloat16);
        model.EmbedTokens.to(ScalarType.Float32);
        var (ids, mask, labels) = Batch();
        var named = GradientSnapshot.Parameters(model);
        var (plain, plainMask) = TokenLogProbs.FromModel(model, ids, mask, labels);
        Assert.Equal(ScalarType.Float32, plain.dtype);
        Sft.Loss(plain, plainMask).Loss.backward();
        var expected = GradientSnapshot.Take(named);
        var (chunked, chunkedMask) = TokenLogProbs.FromModel(model, ids, mask, labels, chunk: 4);
        Assert.Equal(ScalarType.Float32, chunked.dtype);
        Gradients.AssertClose(plain, chunked, 1e-5);
        Sft.Loss(chunked, chunkedMask).Loss.backward();
        GradientSnapshot.AssertEqual(expected, GradientSnapshot.Take(named), 1e-2); // measured: 1.4e-3 (embedding)
    }

    [Fact]
    public void ABatchWithNoCountedLabelGivesZerosAndAGradientOfZero()
    {
        using var scope = NewDisposeScope();
        using var model = Model(tied: true);
        var ids = randint(3, 97, new long[] { 2, 5 }, generator: new torch.Generator(1));
        var labels = full(2, 5, TokenLogProbs.IgnoreIndex, ScalarType.Int64);
        var (logps, mask) = TokenLogProbs.FromModel(model, ids, null, labels, chunk: 4);
        Assert.Equal(new long[] { 2, 4 }, logps.shape);
        Assert.Equal(0.0, logps.abs().sum().item<double>());
        Assert.Equal(0.0, mask.sum().item<double>());
        Sft.Loss(logps, mask).Loss.backward();
        Assert.Equal(0.0, model.Backbone.Norm.Weight.grad!.abs().sum().item<double>());
    }

    [Fact]
    public void TheDefaultChunkKeepsAChunksLogitsNearSixtyFourMebibytes()
    {
        Assert.Equal(341, TokenLogProbs.ChunkFor(49152));
        Assert.Equal(110, TokenLogProbs.ChunkFor(151936));
        Assert.Equal(4096, TokenLogProbs.ChunkFor(97));
        Assert.Equal(16, TokenLogProbs.ChunkFor(10_000_000));
    }

    [Fact]
    public void RepeatedStepsLeaveNoTensorsBehind()
    {
        using var model = Model(tied: false);
        var (ids, mask, labels) = Batch();
        void Step()
        {
            using var scope = NewDisposeScope();
            var (logps, m) = TokenLogProbs.FromModel(model, ids, mask, labels, chunk: 3);
            Sft.Loss(logps, m).Loss.backward();
            foreach (var p in model.parameters()) p.grad = null;
        }
        Step();
        GC.Collect(); GC.WaitForPendingFinalizers();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 10; i++) Step();
        GC.Collect(); GC.WaitForPendingFinalizers();
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.True(after - before <= 2, $"live tensors grew from {before} to {after}");
    }
}

using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Objectives;
using IftSharp.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

/// <summary>
/// <see cref="LlamaForCausalLM.GradientCheckpointing"/>: each decoder layer recomputed in backward. Gradients equal those
/// of the plain backward (float64, 1e-10 relative) through token ids and through input embeddings (IFT's path), with
/// padding, with a frozen base under LoRA (no input requires a gradient), with LoRA dropout (the recomputation must
/// draw the same masks), and in bfloat16 (to a tolerance).
/// </summary>
[Collection(GlobalRandomCollection.Name)]
public class GradientCheckpointingTests
{
    private static LlamaForCausalLM Model(bool tied, ScalarType dtype = ScalarType.Float64) =>
        TinyModels.GradientLlama(tied, seed: 3, dtype);

    private static Tensor LeftPaddedMask() => tensor(new long[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, [2, 6]);

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void GradientsThroughInputEmbeddingsEqualThePlainBackward(bool tied, bool padded)
    {
        using var scope = NewDisposeScope();
        using var model = Model(tied);
        var embeds = randn(new long[] { 2, 6, 32 }, ScalarType.Float64, generator: new torch.Generator(4)).requires_grad_(true);
        var weights = randn(new long[] { 2, 6, 97 }, ScalarType.Float64, generator: new torch.Generator(5));
        Tensor? mask = padded ? LeftPaddedMask() : null;
        Tensor Run()
        {
            var logits = model.ForwardEmbeddings(embeds, mask);
            (logits * weights).sum().backward();
            return logits.detach();
        }
        var plainLogits = Run();
        var named = GradientSnapshot.Parameters(model, ("inputs_embeds", embeds));
        var expected = GradientSnapshot.Take(named);
        model.GradientCheckpointing = true;
        var checkpointedLogits = Run();
        Assert.True(plainLogits.eq(checkpointedLogits).all().item<bool>(), "the forward pass is unchanged");
        GradientSnapshot.AssertEqual(expected, GradientSnapshot.Take(named), 1e-10);
    }

    [Fact]
    public void IftLossGradientsEqualThePlainBackward()
    {
        // IFT embeds its fused input without gradient: no input of the first layer requires a gradient.
        using var scope = NewDisposeScope();
        using var model = Model(tied: true);
        var ids = randint(3, 97, new long[] { 2, 6 }, generator: new torch.Generator(6));
        var labels = ids.clone();
        labels[TensorIndex.Colon, TensorIndex.Slice(0, 2)] = full(2, 2, TokenLogProbs.IgnoreIndex, ScalarType.Int64);
        var frozen = new FrozenEmbedding(model);
        IftForward.Loss(model, ids, labels, LeftPaddedMask(), new IftOptions(), frozen).Loss.backward();
        var named = GradientSnapshot.Parameters(model);
        var expected = GradientSnapshot.Take(named);
        model.GradientCheckpointing = true;
        IftForward.Loss(model, ids, labels, LeftPaddedMask(), new IftOptions(), frozen, chunk: 4).Loss.backward();
        GradientSnapshot.AssertEqual(expected, GradientSnapshot.Take(named), 1e-10);
    }

    [Fact]
    public void LoraGradientsWithDropoutEqualThePlainBackward()
    {
        // A frozen base: only A and B take gradients, which must reach them through the checkpoint even though no input
        // requires one; dropout in training mode must draw the same masks in the recomputation.
        using var scope = NewDisposeScope();
        using var model = Model(tied: false);
        var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 3, Dropout = 0.3 }, seed: 1);
        using (no_grad())
        using (var generator = new torch.Generator(2))
            foreach (var (_, lora) in adapter.Modules) lora.B.copy_(randn(lora.B.shape, ScalarType.Float64, generator: generator));
        var ids = randint(3, 97, new long[] { 2, 6 }, generator: new torch.Generator(7));
        var labels = ids.clone();
        var named = adapter.PeftStateDict().Select(p => (p.Key, p.Value)).ToList();
        void Step(long seed)
        {
            random.manual_seed(seed);
            var (logps, mask) = TokenLogProbs.FromModel(model, ids, LeftPaddedMask(), labels);
            Sft.Loss(logps, mask).Loss.backward();
        }
        Step(10);
        var expected = GradientSnapshot.Take(named);
        Assert.Equal(2 * adapter.Modules.Count, expected.Count);
        Assert.All(model.parameters(), p => Assert.Null(p.grad));
        model.GradientCheckpointing = true;
        Step(10);
        GradientSnapshot.AssertEqual(expected, GradientSnapshot.Take(named), 1e-10);
        Step(11); // another dropout draw gives other gradients: the dropout is real
        var other = GradientSnapshot.Take(named);
        Assert.Throws<Xunit.Sdk.TrueException>(() => GradientSnapshot.AssertEqual(expected, other, 1e-3));
    }

    [Fact]
    public void BFloat16GradientsStayCloseToThePlainBackward()
    {
        using var scope = NewDisposeScope();
        using var model = Model(tied: true, ScalarType.Float32);
        model.to(ScalarType.BFloat16);
        model.EmbedTokens.to(ScalarType.Float32); // as the bf16 compute copy keeps it
        var ids = randint(3, 97, new long[] { 2, 6 }, generator: new torch.Generator(8));
        void Step()
        {
            var (logps, mask) = TokenLogProbs.FromModel(model, ids, LeftPaddedMask(), ids.clone());
            Sft.Loss(logps, mask).Loss.backward();
        }
        Step();
        var named = GradientSnapshot.Parameters(model);
        var expected = GradientSnapshot.Take(named);
        model.GradientCheckpointing = true;
        Step();
        GradientSnapshot.AssertEqual(expected, GradientSnapshot.Take(named), 1e-6); // measured: bit-identical
    }

    [Fact]
    public void BackwardRecomputesTheLayersAndLeavesNoTensorsBehind()
    {
        using var model = Model(tied: true);
        var ids = randint(3, 97, new long[] { 2, 6 }, generator: new torch.Generator(9));
        long liveAfterBackward = 0;
        long Step()
        {
            using var scope = NewDisposeScope();
            var loss = model.Forward(ids, LeftPaddedMask()).log_softmax(-1).mean();
            long before = DisposeScopeManager.Statistics.CreatedInScopeCount;
            long live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            loss.backward();
            long created = DisposeScopeManager.Statistics.CreatedInScopeCount - before;
            liveAfterBackward = DisposeScopeManager.Statistics.ThreadTotalLiveCount - live;
            foreach (var p in model.parameters()) p.grad = null;
            return created;
        }
        long plain = Step();
        long plainLive = liveAfterBackward;
        model.GradientCheckpointing = true;
        long recomputing = Step();
        // The recomputed forward passes create the layers' intermediates again, in backward...
        Assert.True(recomputing > plain + 40, $"tensors created in backward: {recomputing} checkpointed, {plain} plain");
        // ...and release them: no layer's gradients are held to the end of the step (only the first layer's input gradient
        // waits for its release at the next custom backward or forward).
        Assert.True(liveAfterBackward <= plainLive + 1, $"alive after backward: {liveAfterBackward} checkpointed, {plainLive} plain");
        GC.Collect(); GC.WaitForPendingFinalizers();
        long live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 10; i++) Step();
        GC.Collect(); GC.WaitForPendingFinalizers();
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.True(after - live <= 2, $"live tensors grew from {live} to {after}");
    }

    [Fact]
    public void WithoutGradientOrWithACacheNothingIsCheckpointed()
    {
        using var scope = NewDisposeScope();
        using var model = Model(tied: true);
        var ids = randint(3, 97, new long[] { 1, 5 }, generator: new torch.Generator(10));
        Tensor plain;
        using (no_grad()) plain = model.Forward(ids);
        model.GradientCheckpointing = true;
        using (no_grad())
        {
            Assert.True(plain.eq(model.Forward(ids)).all().item<bool>());
            using var cache = model.CreateCache(1, 8);
            var cached = model.Forward(ids, null, null, cache);
            Assert.Equal(5, cache.Length);
            Gradients.AssertClose(plain, cached, 1e-12);
        }
    }
}

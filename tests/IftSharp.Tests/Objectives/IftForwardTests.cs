using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Objectives;

public class IftForwardTests
{
    // Two sequences of 6 tokens; the first two positions of each are prompt (labels -100), the second is right-padded.
    private static Tensor Ids() => tensor(new long[,] { { 1, 4, 2, 7, 3, 9 }, { 5, 2, 8, 1, 0, 0 } });
    private static Tensor Labels() => tensor(new long[,] { { -100, -100, 2, 7, 3, 9 }, { -100, -100, 8, 1, -100, -100 } });

    [Fact]
    public void OneStepAheadShiftsGreedyPredictionsAndReplacesOnlyTargets()
    {
        using var scope = NewDisposeScope();
        var model = new TinyCausalLM();
        var ids = Ids(); var labels = Labels();
        var (idsHat, _) = IftForward.OneStepAhead(model, ids, labels, null, model.EmbedTokens.forward);
        Assert.False(idsHat.requires_grad);

        var predicted = ((ICausalLM)model).Forward(ids).argmax(-1); // predicted[b, t] is the guess for position t+1
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 6; t++)
            {
                long expected = labels[b, t].item<long>() == -100 ? ids[b, t].item<long>() : predicted[b, t - 1].item<long>();
                Assert.Equal(expected, idsHat[b, t].item<long>());
            }
    }

    [Fact]
    public void LambdaZeroGammaZeroReproducesSftLossAndGradientsExactly()
    {
        using var scope = NewDisposeScope();
        var ids = Ids(); var labels = Labels();
        var options = new IftOptions { Lambda = 0, Gamma = 0 };

        // Official: the fused input is embedded without gradient (a frozen copy there), so the input embedding gets no gradient.
        var ift = new TinyCausalLM();
        var frozen = new FrozenEmbedding(ift);
        var iftLoss = IftForward.Loss(ift, ids, labels, null, options, frozen).Loss;
        iftLoss.backward();

        var sft = new TinyCausalLM();
        var (logps, mask) = TokenLogProbs.Gather(((ICausalLM)sft).Forward(ids), labels);
        var sftLoss = Sft.Loss(logps, mask, SftReduction.Sequence).Loss;
        sftLoss.backward();

        Assert.Equal(sftLoss.item<double>(), iftLoss.item<double>());
        var iftGrads = ift.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad);
        foreach (var (name, p) in sft.named_parameters())
        {
            if (name.StartsWith("embed_tokens")) Assert.True(iftGrads[name] is null || iftGrads[name]!.abs().max().item<double>() == 0);
            else Assert.True(p.grad!.eq(iftGrads[name]!).all().item<bool>(), $"gradient of {name} differs");
        }

        // Training through the fusion embedding gives SFT's full gradient, embedding included.
        var through = new TinyCausalLM();
        IftForward.Loss(through, ids, labels, null, options with { TrainFusionEmbedding = true }, null).Loss.backward();
        var throughGrads = through.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
        foreach (var (name, p) in sft.named_parameters())
            Assert.True(p.grad!.eq(throughGrads[name]).all().item<bool>(), $"gradient of {name} differs");
    }

    [Fact]
    public void SecondPassRunsOnTheFusedEmbeddingAgainstTheGroundTruth()
    {
        using var scope = NewDisposeScope();
        var model = new TinyCausalLM();
        var ids = Ids(); var labels = Labels();
        var options = new IftOptions { Lambda = 0.2, Gamma = 0.95 };
        var frozen = new FrozenEmbedding(model);
        var result = IftForward.Loss(model, ids, labels, null, options, frozen);

        var (idsHat, _) = IftForward.OneStepAhead(model, ids, labels, null, frozen.Embed);
        var e = model.EmbedTokens.forward(ids).detach();
        var eHat = model.EmbedTokens.forward(idsHat).detach();
        var fused = 0.8 * e + 0.2 * eHat;
        var (logps, mask) = TokenLogProbs.Gather(((ICausalLM)model).ForwardEmbeddings(fused), labels);
        Assert.Equal(Ift.Loss(logps, mask, options).Loss.item<double>(), result.Loss.item<double>(), 12);
        Assert.True(result.Metrics.ContainsKey("ift/first_pass_nll"));

        // The fused input differs from the plain one only where the guess differs from the truth.
        Assert.NotEqual(Sft.Loss(logps, mask, SftReduction.Sequence).Loss.item<double>(),
                        IftForward.Loss(model, ids, labels, null, options with { Lambda = 0, Gamma = 0 }, frozen).Loss.item<double>());
    }

    [Fact]
    public void FrozenEmbeddingReadsTheModelsCurrentWeightsWithoutGradient()
    {
        // The official trainer re-syncs its frozen copy after every optimizer step, so in every pass it equals the
        // policy's current embedding: the view must follow a change of the weights at once and carry no gradient.
        using var scope = NewDisposeScope();
        var model = new TinyCausalLM();
        var frozen = new FrozenEmbedding(model);
        var ids = Ids();
        using (no_grad()) model.EmbedTokens.weight!.add_(1.0);
        var embedded = frozen.Embed(ids);
        Assert.True(embedded.eq(model.EmbedTokens.forward(ids)).all().item<bool>());
        Assert.False(embedded.requires_grad);
    }
}

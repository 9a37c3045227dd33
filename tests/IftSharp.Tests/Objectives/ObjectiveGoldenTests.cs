using System.Text.Json;
using IftSharp.Objectives;
using IftSharp.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Objectives;

/// <summary>
/// Every objective against golden losses and gradients computed independently with PyTorch in float64
/// (Fixtures/tools/make_objective_fixtures.py, explicit loops where our code is vectorised).
/// </summary>
public class ObjectiveGoldenTests
{
    private static readonly JsonElement Golden = Fixture.Json("objectives", "objectives.json");
    private const double Tol = 1e-10;

    [Fact]
    public void GatherShiftsOnceAndMasksIgnoredLabels()
    {
        using var scope = NewDisposeScope();
        var g = Golden.GetProperty("gather");
        var logits = Fixture.Tensor(g.GetProperty("logits"));
        var labels = Fixture.Long(g.GetProperty("labels"));
        var (logps, mask) = TokenLogProbs.Gather(logits, labels);
        Gradients.AssertClose(Fixture.Tensor(g.GetProperty("logps")), logps, Tol);
        Gradients.AssertClose(Fixture.Tensor(g.GetProperty("mask")), mask, 0);
        var (tempered, _) = TokenLogProbs.Gather(logits, labels, temperature: 0.8);
        Gradients.AssertClose(Fixture.Tensor(g.GetProperty("logps_t08")), tempered, Tol);
    }

    [Fact]
    public void GatherUpcastsHalfPrecisionLogitsToFloat32()
    {
        using var scope = NewDisposeScope();
        var logits = randn(1, 3, 5).to_type(ScalarType.BFloat16);
        var (logps, _) = TokenLogProbs.Gather(logits, tensor(new long[,] { { 0, 1, 2 } }));
        Assert.Equal(ScalarType.Float32, logps.dtype);
    }

    [Theory]
    [InlineData("sft_token", SftReduction.Token)]
    [InlineData("sft_sequence", SftReduction.Sequence)]
    public void SftMatchesPyTorch(string name, SftReduction reduction)
    {
        using var scope = NewDisposeScope();
        var (logps, mask) = Tokens();
        var expected = Golden.GetProperty(name);
        AssertLossAndGrad(x => Sft.Loss(x, mask, reduction).Loss, logps, expected.GetProperty("loss").GetDouble(),
            expected.GetProperty("grad"));
    }

    public static IEnumerable<object[]> IftCases() =>
        Enumerable.Range(0, Golden.GetProperty("ift").GetArrayLength()).Select(i => new object[] { i });

    [Theory]
    [MemberData(nameof(IftCases))]
    public void IftMatchesTheOfficialWeightingComputedByPyTorch(int index)
    {
        using var scope = NewDisposeScope();
        var c = Golden.GetProperty("ift")[index];
        var options = new IftOptions
        {
            Gamma = c.GetProperty("gamma").GetDouble(),
            DetachWeights = c.GetProperty("detach").GetBoolean(),
            Propagation = c.GetProperty("propagation").GetString() switch
            {
                "loss" => IftPropagation.Loss,
                "logps" => IftPropagation.Logps,
                _ => IftPropagation.Mask,
            },
            Norm = c.GetProperty("norm").GetString() switch
            {
                "L1" => IftNorm.L1,
                "L2" => IftNorm.L2,
                "softmax" => IftNorm.Softmax,
                _ => IftNorm.Log,
            },
        };
        var (logps, mask) = Tokens();
        AssertLossAndGrad(x => Ift.Loss(x, mask, options).Loss, logps, c.GetProperty("loss").GetDouble(), c.GetProperty("grad"),
            finiteDifferences: !options.DetachWeights);
    }

    [Fact]
    public void IftWithGammaZeroIsExactlySftPerSequence()
    {
        using var scope = NewDisposeScope();
        var (logps, mask) = Tokens();
        var a = logps.clone().requires_grad_(true);
        var b = logps.clone().requires_grad_(true);
        var ift = Ift.Loss(a, mask, new IftOptions { Gamma = 0 }).Loss;
        var sft = Sft.Loss(b, mask, SftReduction.Sequence).Loss;
        ift.backward(); sft.backward();
        Assert.Equal(sft.item<double>(), ift.item<double>());
        Assert.True(a.grad!.eq(b.grad!).all().item<bool>());
    }

    [Fact]
    public void IftGradientMatchesFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        var (logps, mask) = Tokens();
        Gradients.CheckFiniteDifferences(x => Ift.Loss(x, mask, new IftOptions()).Loss, logps);
        Gradients.CheckFiniteDifferences(x => Ift.Loss(x, mask, new IftOptions { Gamma = 0.7, Norm = IftNorm.L2 }).Loss, logps);
    }

    [Fact]
    public void ReverseDiscountedCumsumSumsTheFuture()
    {
        // c = [1 + .5·2 + .25·4, 2 + .5·4, 4] = [3, 4, 4]
        using var scope = NewDisposeScope();
        var c = Ift.ReverseDiscountedCumsum(tensor(new double[,] { { 1, 2, 4 } }), 0.5);
        Assert.Equal(new[] { 3.0, 4.0, 4.0 }, c.data<double>().ToArray());
    }

    public static IEnumerable<object[]> DpoCases() =>
        Enumerable.Range(0, Golden.GetProperty("dpo").GetArrayLength()).Select(i => new object[] { i });

    [Theory]
    [MemberData(nameof(DpoCases))]
    public void DpoFamilyMatchesPyTorch(int index)
    {
        using var scope = NewDisposeScope();
        var c = Golden.GetProperty("dpo")[index];
        var options = new DpoOptions
        {
            Beta = c.GetProperty("beta").GetDouble(),
            LabelSmoothing = c.GetProperty("label_smoothing").GetDouble(),
            LossType = c.GetProperty("type").GetString() switch
            {
                "sigmoid" => DpoLossType.Sigmoid,
                "hinge" => DpoLossType.Hinge,
                "ipo" => DpoLossType.Ipo,
                _ => DpoLossType.ExoPair,
            },
        };
        var p = Pairs();
        ObjectiveResult Run(Tensor chosen, Tensor rejected) => Dpo.Loss(SequenceLogps.From(chosen, p.ChosenMask),
            SequenceLogps.From(rejected, p.RejectedMask), p.RefChosen, p.RefRejected, options);
        AssertPairLossAndGrads(Run, p, c);
        var metrics = Run(p.Chosen, p.Rejected).Metrics;
        foreach (var m in c.GetProperty("metrics").EnumerateObject())
            Assert.Equal(m.Value.GetDouble(), metrics[m.Name], 10);
    }

    [Fact]
    public void OrpoMatchesPyTorch()
    {
        using var scope = NewDisposeScope();
        var c = Golden.GetProperty("orpo");
        var p = Pairs();
        ObjectiveResult Run(Tensor chosen, Tensor rejected) => Orpo.Loss(SequenceLogps.From(chosen, p.ChosenMask),
            SequenceLogps.From(rejected, p.RejectedMask), Sft.Loss(chosen, p.ChosenMask).Loss, new OrpoOptions { Beta = 0.25 });
        AssertPairLossAndGrads(Run, p, c);
        var metrics = Run(p.Chosen, p.Rejected).Metrics;
        foreach (var m in c.GetProperty("metrics").EnumerateObject())
            Assert.Equal(m.Value.GetDouble(), metrics[m.Name], 10);
    }

    [Fact]
    public void SimPoMatchesPyTorch()
    {
        using var scope = NewDisposeScope();
        var c = Golden.GetProperty("simpo");
        var p = Pairs();
        AssertPairLossAndGrads((chosen, rejected) => SimPo.Loss(SequenceLogps.From(chosen, p.ChosenMask),
            SequenceLogps.From(rejected, p.RejectedMask), new SimPoOptions { Beta = 2.0, GammaBetaRatio = 0.8 }), p, c);
    }

    [Fact]
    public void ExoPairOfficialMatchesPyTorch()
    {
        using var scope = NewDisposeScope();
        var c = Golden.GetProperty("exo_pair_official");
        var p = Pairs();
        AssertPairLossAndGrads((chosen, rejected) => Exo.PairLoss(SequenceLogps.From(chosen, p.ChosenMask),
            SequenceLogps.From(rejected, p.RejectedMask), p.RefChosen, p.RefRejected, new ExoOptions { BetaPi = 0.5 }), p, c);
    }

    [Fact]
    public void ExoRewardFormsMatchPyTorch()
    {
        using var scope = NewDisposeScope();
        var g = Golden.GetProperty("reward_groups");
        var policy = Fixture.Tensor(g.GetProperty("policy"));
        var reference = Fixture.Tensor(g.GetProperty("reference"));
        var rewards = Fixture.Tensor(g.GetProperty("rewards"));
        var options = new ExoRewardOptions { BetaPi = 0.5, BetaR = 0.5 };
        AssertLossAndGrad(x => Exo.RewardLoss(x, reference, rewards, options).Loss, policy,
            g.GetProperty("exo_rw").GetProperty("loss").GetDouble(), g.GetProperty("exo_rw").GetProperty("grad"));
        AssertLossAndGrad(x => Exo.SoftLabelDpoLoss(x, reference, rewards, options).Loss, policy,
            g.GetProperty("dpo_rw").GetProperty("loss").GetDouble(), g.GetProperty("dpo_rw").GetProperty("grad"));
    }

    private static (Tensor Logps, Tensor Mask) Tokens()
    {
        var t = Golden.GetProperty("tokens");
        return (Fixture.Tensor(t.GetProperty("logps")), Fixture.Tensor(t.GetProperty("mask")));
    }

    private sealed record PairData(Tensor Chosen, Tensor ChosenMask, Tensor Rejected, Tensor RejectedMask, SequenceLogps RefChosen,
        SequenceLogps RefRejected);

    private static PairData Pairs()
    {
        var p = Golden.GetProperty("pairs");
        var cm = Fixture.Tensor(p.GetProperty("chosen_mask"));
        var rm = Fixture.Tensor(p.GetProperty("rejected_mask"));
        return new PairData(Fixture.Tensor(p.GetProperty("chosen_logps")), cm, Fixture.Tensor(p.GetProperty("rejected_logps")), rm,
            new SequenceLogps(Fixture.Tensor(p.GetProperty("ref_chosen")), cm.sum(1)),
            new SequenceLogps(Fixture.Tensor(p.GetProperty("ref_rejected")), rm.sum(1)));
    }

    /// <param name="finiteDifferences">False where the gradient deliberately differs from the loss's derivative (detached weights).</param>
    private static void AssertLossAndGrad(Func<Tensor, Tensor> loss, Tensor at, double expectedLoss, JsonElement expectedGrad,
        bool finiteDifferences = true)
    {
        var x = at.clone().requires_grad_(true);
        var l = loss(x);
        l.backward();
        Assert.Equal(expectedLoss, l.item<double>(), 10);
        Gradients.AssertClose(Fixture.Tensor(expectedGrad), x.grad!, Tol);
        if (finiteDifferences) Gradients.CheckFiniteDifferences(loss, at);
    }

    private static void AssertPairLossAndGrads(Func<Tensor, Tensor, ObjectiveResult> run, PairData p, JsonElement expected)
    {
        var chosen = p.Chosen.clone().requires_grad_(true);
        var rejected = p.Rejected.clone().requires_grad_(true);
        var l = run(chosen, rejected).Loss;
        l.backward();
        Assert.Equal(expected.GetProperty("loss").GetDouble(), l.item<double>(), 10);
        Gradients.AssertClose(Fixture.Tensor(expected.GetProperty("grad_chosen")), chosen.grad!, Tol);
        Gradients.AssertClose(Fixture.Tensor(expected.GetProperty("grad_rejected")), rejected.grad!, Tol);
        Gradients.CheckFiniteDifferences(x => run(x, p.Rejected).Loss, p.Chosen);
    }
}

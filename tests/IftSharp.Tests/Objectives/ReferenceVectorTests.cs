using IftSharp.Objectives;
using IftSharp.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Objectives;

/// <summary>
/// The test vectors of the team's reference note on the official IFT and EXO code (its §2.5 and Appendix A),
/// re-derived there in plain Python: summed log-ratios Δ_w = 2.0, Δ_l = −1.0.
/// </summary>
public class ReferenceVectorTests
{
    private static (SequenceLogps, SequenceLogps, SequenceLogps, SequenceLogps) DeltaPair()
    {
        // policy − reference = 2.0 for the winner and −1.0 for the loser; one token each.
        var one = tensor(new[] { 1.0 }, dtype: ScalarType.Float64);
        SequenceLogps Sequence(double logp) => new(tensor(new[] { logp }, dtype: ScalarType.Float64), one);
        return (Sequence(-1.0), Sequence(-4.0), Sequence(-3.0), Sequence(-3.0));
    }

    [Theory]
    [InlineData(0.1, 3.573552, 2.258199, 3.573578, 0.554355)]
    [InlineData(0.5, 1.349204, 0.785917, 1.349241, 0.201413)]
    public void ExoAndDpoPairVectors(double beta, double official, double trl1e3, double trlE10, double dpo)
    {
        using var scope = NewDisposeScope();
        var (pc, pr, rc, rr) = DeltaPair();
        Assert.Equal(official, Exo.PairLoss(pc, pr, rc, rr, new ExoOptions { BetaPi = beta }).Loss.item<double>(), 6);
        var smoothed = new ExoOptions { BetaPi = beta, TargetKind = ExoTarget.Smoothed, LabelSmoothing = 1e-3 };
        Assert.Equal(trl1e3, Exo.PairLoss(pc, pr, rc, rr, smoothed).Loss.item<double>(), 6);
        var exoPair = new DpoOptions { Beta = beta, LossType = DpoLossType.ExoPair, LabelSmoothing = Math.Exp(-10) };
        Assert.Equal(trlE10, Dpo.Loss(pc, pr, rc, rr, exoPair).Loss.item<double>(), 6);
        Assert.Equal(dpo, Dpo.Loss(pc, pr, rc, rr, new DpoOptions { Beta = beta }).Loss.item<double>(), 6);
    }

    [Fact]
    public void ExoRewardVectorsWithFourSamples()
    {
        using var scope = NewDisposeScope();
        var ratios = tensor(new[,] { { 0.5, -0.2, 1.0, 0.0 } }, dtype: ScalarType.Float64);
        var rewards = tensor(new[,] { { 1.2, 0.3, -0.5, 0.9 } }, dtype: ScalarType.Float64);
        var reference = zeros_like(ratios);
        var options = new ExoRewardOptions { BetaPi = 0.5, BetaR = 0.5 };
        Assert.Equal(0.819299, Exo.RewardLoss(ratios, reference, rewards, options).Loss.item<double>(), 6);
        Assert.Equal(1.433263, Exo.SoftLabelDpoLoss(ratios, reference, rewards, options).Loss.item<double>(), 6);
    }

    [Fact]
    public void ExoRejectsNonPositiveEpsilonLikeTrl()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Exo.PairTarget.Smoothed(0));
    }
}

using IftSharp.Core;
using Xunit;

namespace IftSharp.Tests.Core;

/// <summary>The paired bootstrap on cases whose resampling distribution can be worked out by hand.</summary>
public class StatisticsTests
{
    [Fact]
    public void ADifferenceEveryItemSharesHasAZeroWidthInterval()
    {
        var interval = Statistics.PairedBootstrap([([1, 1, 0, 1], [0.75, 0.75, -0.25, 0.75])], resamples: 200);
        Assert.Equal(0.25, interval.Estimate, 12);
        Assert.Equal(0.25, interval.Low, 12);
        Assert.Equal(0.25, interval.High, 12);
        Assert.True(interval.Significant);
    }

    [Fact]
    public void TwoItemsDifferingByZeroAndOneGiveTheWholeRangeAndNoSignificance()
    {
        // A resample of two items has mean 0 (both draws the first item: 1/4), 1/2 (1/2) or 1 (1/4): the 2.5 % and
        // 97.5 % percentiles are 0 and 1, and 0 is inside the interval.
        var interval = Statistics.PairedBootstrap([([0, 1], [0, 0])], resamples: 4000, seed: 3);
        Assert.Equal(0.5, interval.Estimate, 12);
        Assert.Equal(0, interval.Low, 12);
        Assert.Equal(1, interval.High, 12);
        Assert.False(interval.Significant);
    }

    [Fact]
    public void EighteenWinsInTwentyItemsAreSignificantAndTheIntervalMatchesTheBinomial()
    {
        // The resampled mean is Binomial(20, 0.9) / 20: its 2.5 % and 97.5 % quantiles are 15/20 and 20/20.
        double[] a = [.. Enumerable.Repeat(1.0, 18), 0, 0];
        var interval = Statistics.PairedBootstrap([(a, new double[20])], resamples: 20000, seed: 1);
        Assert.Equal(0.9, interval.Estimate, 12);
        Assert.InRange(interval.Low, 0.75, 0.80);
        Assert.Equal(1, interval.High, 12);
        Assert.True(interval.Significant);
    }

    [Fact]
    public void StrataWeighEquallyWhateverTheirSize()
    {
        // The average of task accuracies weighs each task equally: (1 + 0) / 2, not 2 of 102 items.
        var interval = Statistics.PairedBootstrap([([1, 1], [0, 0]), (new double[100], new double[100])], resamples: 100);
        Assert.Equal(0.5, interval.Estimate, 12);
        Assert.Equal(0.5, interval.Low, 12);
        Assert.Equal(0.5, interval.High, 12);
    }

    [Fact]
    public void PercentilesInterpolateBetweenOrderStatisticsAsNumPyDoes()
    {
        double[] sorted = [1, 2, 3, 4];
        Assert.Equal(1.075, Statistics.Percentile(sorted, 0.025), 12); // numpy.percentile([1,2,3,4], 2.5)
        Assert.Equal(2.5, Statistics.Percentile(sorted, 0.5), 12);
        Assert.Equal(4, Statistics.Percentile(sorted, 1), 12);
    }
}

namespace IftSharp.Core;

/// <summary>Summaries over seeds, and the paired bootstrap that says whether a difference between two methods is real.</summary>
public static class Statistics
{
    /// <summary>The mean and the sample standard deviation (0 for a single value).</summary>
    public static (double Mean, double Std) MeanStd(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double mean = v.Average();
        double std = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0;
        return (mean, std);
    }

    /// <summary>A difference and its bootstrap percentile interval; significant when the interval leaves out 0.</summary>
    public sealed record Interval(double Estimate, double Low, double High)
    {
        public bool Significant => Low > 0 || High < 0;
    }

    /// <summary>
    /// Paired, stratified bootstrap of the mean over strata of each stratum's mean difference <c>a[i] − b[i]</c>
    /// (strata: the tasks, whose accuracies the average weighs equally; items: scored by both methods, so resampling an
    /// item resamples both of its scores together). Each resample draws every stratum's items with replacement; the
    /// interval is the <c>(1 − level)/2</c> and <c>(1 + level)/2</c> percentiles of the resampled statistic.
    /// </summary>
    public static Interval PairedBootstrap(IReadOnlyList<(double[] A, double[] B)> strata, int resamples = 10000, int seed = 0,
        double level = 0.95)
    {
        if (strata.Count == 0 || strata.Any(s => s.A.Length == 0 || s.A.Length != s.B.Length))
            throw new ArgumentException("every stratum needs the same number (> 0) of paired scores");
        var differences = strata.Select(s => s.A.Zip(s.B, (a, b) => a - b).ToArray()).ToArray();
        double estimate = differences.Average(d => d.Average());
        var rng = new Random(seed);
        var statistics = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double sum = 0;
            foreach (var d in differences)
            {
                double s = 0;
                for (int i = 0; i < d.Length; i++) s += d[rng.Next(d.Length)];
                sum += s / d.Length;
            }
            statistics[r] = sum / differences.Length;
        }
        Array.Sort(statistics);
        return new Interval(estimate, Percentile(statistics, (1 - level) / 2), Percentile(statistics, (1 + level) / 2));
    }

    /// <summary>
    /// The <paramref name="q"/> quantile of sorted values, by linear interpolation between order statistics (NumPy's default).
    /// </summary>
    public static double Percentile(double[] sorted, double q)
    {
        double position = q * (sorted.Length - 1);
        int low = (int)Math.Floor(position), high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (position - low) * (sorted[high] - sorted[low]);
    }
}

namespace IftSharp.Core;

/// <summary>Summaries over seeds.</summary>
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
}

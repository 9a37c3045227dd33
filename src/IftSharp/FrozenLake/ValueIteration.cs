namespace IftSharp.FrozenLake;

/// <summary>The optimal policy by value iteration ("classical RL methods", IFT §5.3).</summary>
public sealed class ValueIteration
{
    public double[] Values { get; }
    /// <summary>Q[s, a].</summary>
    public double[,] Q { get; }

    private ValueIteration(double[] values, double[,] q) { Values = values; Q = q; }

    public static ValueIteration Solve(FrozenLakeMap map, double discount = 0.99, double tolerance = 1e-12, int maxSweeps = 10_000)
    {
        int n = map.StateCount;
        var v = new double[n];
        var q = new double[n, FrozenLakeMap.ActionCount];
        for (int sweep = 0; sweep < maxSweeps; sweep++)
        {
            double delta = 0;
            for (int s = 0; s < n; s++)
            {
                if (map.IsTerminal(s)) continue;
                double best = double.NegativeInfinity;
                for (int a = 0; a < FrozenLakeMap.ActionCount; a++)
                {
                    var (next, reward, done) = map.Step(s, (LakeAction)a);
                    q[s, a] = reward + (done ? 0 : discount * v[next]);
                    best = Math.Max(best, q[s, a]);
                }
                delta = Math.Max(delta, Math.Abs(best - v[s]));
                v[s] = best;
            }
            if (delta < tolerance) break;
        }
        return new ValueIteration(v, q);
    }

    /// <summary>
    /// π*(a|s): uniform over the actions within 1e-9 of the best Q (ties split evenly); uniform on terminal states,
    /// where no action matters.
    /// </summary>
    public double[,] OptimalPolicy(FrozenLakeMap map)
    {
        int n = map.StateCount;
        var pi = new double[n, FrozenLakeMap.ActionCount];
        for (int s = 0; s < n; s++)
        {
            double best = Enumerable.Range(0, FrozenLakeMap.ActionCount).Max(a => Q[s, a]);
            var argmax = Enumerable.Range(0, FrozenLakeMap.ActionCount).Where(a => map.IsTerminal(s) || Q[s, a] >= best - 1e-9).ToList();
            foreach (var a in argmax) pi[s, a] = 1.0 / argmax.Count;
        }
        return pi;
    }
}

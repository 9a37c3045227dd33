using IftSharp.Core;
using IftSharp.Methods;
using IftSharp.Objectives;
using IftSharp.Training.Optimizers;
using static TorchSharp.torch;

namespace IftSharp.FrozenLake;

/// <summary>The metrics of one trained policy.</summary>
public sealed record LakeMetrics(double ParameterMse, double PolicyMse, bool Success, int ExploredCells);

/// <summary>One trained policy's metrics; <see cref="Method"/> is a registered method's name (or "start").</summary>
public sealed record LakeRun(string Method, int Seed, LakeMetrics Metrics);

public sealed record FrozenLakeResult(FrozenLakeSettings Settings, FrozenLakeMap Map, Trajectory Optimal, Trajectory SubOptimal,
    double[,] OptimalPolicy, IReadOnlyList<LakeRun> Runs, IReadOnlyList<LakeRun> StartRuns,
    IReadOnlyDictionary<string, double[,]> FirstSeedPolicies, double[,] OptimalNetworkPolicy);

/// <summary>
/// The IFT paper's toy experiment (§5.3, App. B.2) reconstructed: every method fine-tunes the same randomly initialised
/// two-layer policy (per seed) on trajectory data — the single-target methods (SFT, IFT) on the optimal route, the
/// preference methods with the optimal route chosen and the sub-optimal one rejected, self-play (SPIN) with the
/// policy's own greedy route rejected — and is measured against the optimal parameterised policy, which is the same
/// starting network fitted to the value-iteration policy π* on every state. The methods and their defaults come from
/// <see cref="MethodRegistry"/>: every registered method whose data has a meaning here (unpaired labels and reward
/// groups have none: a route has no prompt to mismatch or score).
/// </summary>
public static class FrozenLakeExperiment
{
    public static IReadOnlyList<ITrainingMethod> Methods { get; } =
        MethodRegistry.All.Where(m => m is ISingleTargetObjective or IPairwiseObjective).ToList();

    public static FrozenLakeResult Run(FrozenLakeSettings settings, Action<string>? progress = null)
    {
        if (settings.Seeds < 1) throw new InputException("--seeds: expected at least 1");
        if (settings.Steps < 1) throw new InputException("--steps: expected at least 1");
        var map = FrozenLakeMap.Parse(settings.Map);
        var routes = Trajectory.HoleFreeRoutes(map);
        if (routes.Count == 0) throw new InputException($"--map: no hole-free route from S to G in {map.Layout}");
        var optimal = routes[0];
        var subOptimal = routes.FirstOrDefault(r => r.Length > optimal.Length)
            ?? throw new InputException(
                $"--map: {map.Layout} has no longer hole-free route to serve as the sub-optimal (rejected) trajectory");
        var vi = ValueIteration.Solve(map, settings.Discount);
        var piStar = vi.OptimalPolicy(map);

        var runs = new List<LakeRun>();
        var startRuns = new List<LakeRun>();
        var firstPolicies = new Dictionary<string, double[,]>();
        double[,]? firstOptimalNet = null;
        for (int seed = 0; seed < settings.Seeds; seed++)
        {
            using var scope = NewDisposeScope();
            var start = PolicyNetwork.Create(map.StateCount, settings.Hidden, (ulong)seed);
            var target = FitOptimal(start, map, piStar, settings);
            startRuns.Add(new LakeRun("start", seed, Measure(start, target, map, settings)));
            if (seed == 0) firstOptimalNet = ToArray(target.Probabilities(map.StateCount));
            foreach (var method in Methods)
            {
                var net = FineTune(method, start, map, optimal, subOptimal, settings);
                runs.Add(new LakeRun(method.Name, seed, Measure(net, target, map, settings)));
                if (seed == 0) firstPolicies[method.Name] = ToArray(net.Probabilities(map.StateCount));
                net.Dispose();
            }
            progress?.Invoke($"seed {seed + 1}/{settings.Seeds} done");
        }
        return new FrozenLakeResult(settings, map, optimal, subOptimal, piStar, runs, startRuns, firstPolicies, firstOptimalNet!);
    }

    /// <summary>The optimal parameterised policy: the start network fitted to π* (cross-entropy on non-terminal states).</summary>
    public static PolicyNetwork FitOptimal(PolicyNetwork start, FrozenLakeMap map, double[,] piStar, FrozenLakeSettings settings)
    {
        var net = start.Copy();
        var states = Enumerable.Range(0, map.StateCount).Where(s => !map.IsTerminal(s)).ToArray();
        using var optimizer = new AdamWOptimizer(net.parameters(), settings.LearningRate, weightDecay: 0);
        using var scope = NewDisposeScope();
        var x = OneHot(states, map.StateCount);
        var targets = tensor(states.SelectMany(s => Enumerable.Range(0, 4).Select(a => piStar[s, a])).ToArray(), dtype: ScalarType.Float64)
            .reshape(states.Length, 4);
        for (int step = 0; step < settings.OptimalFitSteps; step++)
        {
            using var stepScope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = -(targets * net.forward(x).log_softmax(-1)).sum(-1).mean();
            loss.backward();
            optimizer.step();
        }
        return net;
    }

    /// <summary>
    /// Fine-tunes a copy of <paramref name="start"/> with one method, at its registry defaults unless
    /// <see cref="FrozenLakeSettings.MethodSettings"/> changes them; the start network is the frozen reference.
    /// </summary>
    public static PolicyNetwork FineTune(ITrainingMethod method, PolicyNetwork start, FrozenLakeMap map, Trajectory chosen,
        Trajectory rejected, FrozenLakeSettings settings)
    {
        var options = MethodRegistry.Options(method, settings.MethodSettings?.GetValueOrDefault(method.Name));
        var net = start.Copy();
        using var optimizer = new AdamWOptimizer(net.parameters(), settings.LearningRate, weightDecay: 0);
        using var scope = NewDisposeScope();
        int rounds = method is IPairwiseObjective pairwise ? pairwise.SelfPlayRounds(options) : 0;
        var reference = start;
        PolicyNetwork? opponent = null;
        for (int step = 0; step < settings.Steps; step++)
        {
            if (rounds > 0 && (opponent is null || Training.Trainer.RoundStart(RoundOf(step), rounds, settings.Steps) == step))
            {
                // Self-play: each round's opponent is the policy as the round starts; its own greedy route is the rejected one.
                opponent?.Dispose();
                opponent = net.Copy();
                reference = opponent;
                rejected = GreedyRoute(opponent, map);
            }
            using var stepScope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = Loss(method, options, net, reference, map, chosen, rejected);
            loss.backward();
            optimizer.step();
        }
        opponent?.Dispose();
        return net;

        int RoundOf(int step) => Enumerable.Range(0, rounds).Last(r => Training.Trainer.RoundStart(r, rounds, settings.Steps) <= step);
    }

    /// <summary>A method's loss on the routes, through the same objective its language-model training uses.</summary>
    private static Tensor Loss(ITrainingMethod method, object options, PolicyNetwork net, PolicyNetwork reference, FrozenLakeMap map,
        Trajectory chosen, Trajectory rejected)
    {
        var chosenX = OneHot(chosen.States, map.StateCount);
        var chosenMask = Ones(chosen);
        if (method is ISingleTargetObjective single)
        {
            var scores = new TargetScores(
                () => new TokenScores(ActionLogps(net, chosenX, chosen), chosenMask),
                (lambda, _) =>
                {
                    double firstPass;
                    using (no_grad()) firstPass = -ActionLogps(net, chosenX, chosen).mean().item<double>();
                    var fused = new TokenScores(ActionLogps(net, IftInput(net, map, chosen, lambda), chosen), chosenMask);
                    return new FusedScores(fused, firstPass);
                });
            return single.Loss(scores, options).Loss;
        }
        var pairwise = (IPairwiseObjective)method;
        var rejectedX = OneHot(rejected.States, map.StateCount);
        var chosenLogps = ActionLogps(net, chosenX, chosen);
        var c = SequenceLogps.From(chosenLogps, chosenMask);
        var r = SequenceLogps.From(ActionLogps(net, rejectedX, rejected), Ones(rejected));
        SequenceLogps? refChosen = null, refRejected = null;
        if (pairwise.NeedsReference || pairwise.SelfPlayRounds(options) > 0)
            using (no_grad())
            {
                refChosen = SequenceLogps.From(ActionLogps(reference, chosenX, chosen), chosenMask);
                refRejected = SequenceLogps.From(ActionLogps(reference, rejectedX, rejected), Ones(rejected));
            }
        return pairwise.Loss(new PairScores(c, r, new TokenScores(chosenLogps, chosenMask), refChosen, refRejected), options).Loss;
    }

    /// <summary>
    /// The route the policy's most probable actions take from the start, until it ends (goal or hole) or has visited every cell.
    /// </summary>
    public static Trajectory GreedyRoute(PolicyNetwork net, FrozenLakeMap map)
    {
        double[,] pi;
        using (no_grad()) pi = ToArray(net.Probabilities(map.StateCount));
        var states = new List<int>();
        var actions = new List<LakeAction>();
        int s = map.Start;
        for (int step = 0; step < map.StateCount; step++)
        {
            var best = (LakeAction)Enumerable.Range(0, 4).MaxBy(a => pi[s, a]);
            states.Add(s);
            actions.Add(best);
            var (next, _, done) = map.Step(s, best);
            if (done) break;
            s = next;
        }
        return new Trajectory(states, actions);
    }

    /// <summary>
    /// IFT's fused input on a trajectory: (1−λ)·onehot(s*_t) + λ·onehot(ŝ_t), where ŝ_t is the state the policy's own
    /// greedy action at s*_{t−1} leads to (ŝ_0 = s*_0): the analogue of the one-step-ahead token. The greedy pass runs
    /// without gradient.
    /// </summary>
    public static Tensor IftInput(PolicyNetwork net, FrozenLakeMap map, Trajectory trajectory, double lambda)
    {
        var states = trajectory.States;
        var predicted = new int[states.Count];
        predicted[0] = states[0];
        using (no_grad())
        {
            var greedy = net.forward(OneHot(states, map.StateCount)).argmax(-1);
            for (int t = 1; t < states.Count; t++)
                predicted[t] = map.Step(states[t - 1], (LakeAction)greedy[t - 1].item<long>()).Next;
        }
        return OneHot(states, map.StateCount).Times(1 - lambda).Plus(OneHot(predicted, map.StateCount).Times(lambda));
    }

    /// <summary>log π(a_t | x_t) as a [1, T] "token" row, so the language-model objectives apply unchanged.</summary>
    private static Tensor ActionLogps(PolicyNetwork net, Tensor x, Trajectory trajectory)
    {
        var actions = tensor(trajectory.Actions.Select(a => (long)a).ToArray());
        return net.forward(x).log_softmax(-1).gather(-1, actions.unsqueeze(-1)).reshape(1, -1);
    }

    private static Tensor Ones(Trajectory t) => ones(1, t.Length, dtype: ScalarType.Float64);

    public static Tensor OneHot(IReadOnlyList<int> states, int count) =>
        nn.functional.one_hot(tensor(states.Select(s => (long)s).ToArray()), count).to_type(ScalarType.Float64);

    public static LakeMetrics Measure(PolicyNetwork net, PolicyNetwork optimal, FrozenLakeMap map, FrozenLakeSettings settings)
    {
        using var scope = NewDisposeScope();
        double parameterMse = (net.FlatParameters() - optimal.FlatParameters()).Power(2).mean().item<double>();
        var p = net.Probabilities(map.StateCount);
        var q = optimal.Probabilities(map.StateCount);
        var live = tensor(Enumerable.Range(0, map.StateCount).Where(s => !map.IsTerminal(s)).Select(s => (long)s).ToArray());
        double policyMse = (p.index_select(0, live) - q.index_select(0, live)).Power(2).mean().item<double>();
        var pi = ToArray(p);
        return new LakeMetrics(parameterMse, policyMse, GreedySuccess(pi, map), ExploredCells(pi, map, settings.ExploredThreshold));
    }

    /// <summary>
    /// Whether following the most probable action from the start reaches the goal within as many steps as there are cells.
    /// </summary>
    public static bool GreedySuccess(double[,] pi, FrozenLakeMap map)
    {
        int s = map.Start;
        for (int step = 0; step < map.StateCount; step++)
        {
            int best = Enumerable.Range(0, 4).MaxBy(a => pi[s, a]);
            var (next, reward, done) = map.Step(s, (LakeAction)best);
            if (done) return reward > 0;
            s = next;
        }
        return false;
    }

    /// <summary>
    /// "Explored grids" (§5.3): the number of cells the stochastic policy reaches with probability at least
    /// <paramref name="threshold"/> at some step of an episode from the start (exact state-distribution propagation
    /// over as many steps as there are cells; holes and the goal absorb).
    /// </summary>
    public static int ExploredCells(double[,] pi, FrozenLakeMap map, double threshold)
    {
        int n = map.StateCount;
        var d = new double[n];
        d[map.Start] = 1;
        var reached = new bool[n];
        reached[map.Start] = true;
        for (int step = 0; step < n; step++)
        {
            var next = new double[n];
            for (int s = 0; s < n; s++)
            {
                if (d[s] == 0) continue;
                if (map.IsTerminal(s)) { next[s] += d[s]; continue; }
                for (int a = 0; a < 4; a++) next[map.Step(s, (LakeAction)a).Next] += d[s] * pi[s, a];
            }
            d = next;
            for (int s = 0; s < n; s++) if (d[s] >= threshold) reached[s] = true;
        }
        return reached.Count(r => r);
    }

    private static double[,] ToArray(Tensor probabilities)
    {
        var flat = probabilities.data<double>().ToArray();
        int rows = (int)probabilities.shape[0];
        var result = new double[rows, 4];
        for (int i = 0; i < rows; i++) for (int a = 0; a < 4; a++) result[i, a] = flat[i * 4 + a];
        return result;
    }
}

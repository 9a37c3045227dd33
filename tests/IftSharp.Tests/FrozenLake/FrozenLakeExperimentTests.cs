using System.CommandLine;
using System.Text.Json;
using IftSharp.Cli.Commands;
using IftSharp.FrozenLake;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.FrozenLake;

public class FrozenLakeExperimentTests
{
    [Fact]
    public void EveryMethodStartsFromTheSameWeightsAndLeavesThemUntouched()
    {
        using var scope = NewDisposeScope();
        var map = FrozenLakeMap.Default;
        var a = PolicyNetwork.Create(map.StateCount, 8, seed: 3);
        var b = PolicyNetwork.Create(map.StateCount, 8, seed: 3);
        var c = PolicyNetwork.Create(map.StateCount, 8, seed: 4);
        Assert.True(a.FlatParameters().eq(b.FlatParameters()).all().item<bool>());
        Assert.False(a.FlatParameters().eq(c.FlatParameters()).all().item<bool>());

        var routes = Trajectory.HoleFreeRoutes(map);
        var before = a.FlatParameters().clone();
        var settings = new FrozenLakeSettings { Steps = 3, Hidden = 8 };
        foreach (var method in FrozenLakeExperiment.Methods)
        {
            var tuned = FrozenLakeExperiment.FineTune(method, a, map, routes[0], routes[1], settings);
            Assert.False(tuned.FlatParameters().eq(before).all().item<bool>(), $"{method} did not train");
        }
        Assert.True(a.FlatParameters().eq(before).all().item<bool>());
    }

    [Fact]
    public void IftInputFusesTheTrueStateWithWhereTheGreedyActionLeads()
    {
        using var scope = NewDisposeScope();
        var map = FrozenLakeMap.Default;
        var net = PolicyNetwork.Create(map.StateCount, 8, seed: 1);
        using (no_grad())
        {
            // Make "Right" the greedy action everywhere.
            var bias = net.named_parameters().Single(p => p.name == "fc2.bias").parameter;
            bias.copy_(tensor(new double[] { 0, 0, 100, 0 }, dtype: ScalarType.Float64));
        }
        var route = Trajectory.HoleFreeRoutes(map)[0]; // states 0, 5, 10, 15, 20, 21, 22, 23
        var x = FrozenLakeExperiment.IftInput(net, map, route, 0.2);
        Assert.False(x.requires_grad);
        // ŝ_0 = s*_0; ŝ_t is where Right leads from s*_{t−1} (into a hole counts: the state is the hole).
        var expected = new[] { 0 }
            .Concat(route.States.Take(route.States.Count - 1).Select(s => map.Step(s, LakeAction.Right).Next))
            .ToArray();
        for (int t = 0; t < route.States.Count; t++)
        {
            var row = x[t];
            if (expected[t] == route.States[t]) Assert.Equal(1.0, row[route.States[t]].item<double>(), 12);
            else
            {
                Assert.Equal(0.8, row[route.States[t]].item<double>(), 12);
                Assert.Equal(0.2, row[expected[t]].item<double>(), 12);
            }
            Assert.Equal(1.0, row.sum().item<double>(), 12);
        }
    }

    [Fact]
    public void TheCommandWritesCompleteResultFiles()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-fl-" + Guid.NewGuid().ToString("N"));
        try
        {
            var root = new RootCommand { FrozenLakeCommand.Create() };
            int exit = root.Parse(new[] { "frozenlake", "--seeds", "2", "--steps", "5", "--output", dir }).Invoke();
            Assert.Equal(0, exit);

            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            var runs = json.RootElement.GetProperty("runs");
            Assert.Equal(2 * (FrozenLakeExperiment.Methods.Count + 1), runs.GetArrayLength());
            foreach (var run in runs.EnumerateArray())
                foreach (var field in new[] { "method", "seed", "parameter_mse", "policy_mse", "greedy_success", "explored_cells" })
                    Assert.True(run.TryGetProperty(field, out _), $"missing {field}");
            Assert.Equal(2, json.RootElement.GetProperty("settings").GetProperty("Seeds").GetInt32());

            var csv = File.ReadAllLines(Path.Combine(dir, "results.csv"));
            Assert.Equal(1 + 2 * (FrozenLakeExperiment.Methods.Count + 1), csv.Length);
            var png = File.ReadAllBytes(Path.Combine(dir, "frozenlake.png"));
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png.Take(4).ToArray());
            Assert.Empty(Directory.GetFiles(dir, "*.tmp*"));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void ABadMapExitsWithCodeTwo()
    {
        var root = new RootCommand { FrozenLakeCommand.Create() };
        Assert.Equal(2, root.Parse(new[] { "frozenlake", "--map", "SFF/FF", "--output", Path.GetTempPath() }).Invoke());
    }
}

using IftSharp.Core;
using IftSharp.FrozenLake;
using Xunit;

namespace IftSharp.Tests.FrozenLake;

public class FrozenLakeEnvironmentTests
{
    // Gymnasium's default 4×4 map.
    private static readonly FrozenLakeMap Gym = FrozenLakeMap.Parse("SFFF/FHFH/FFFH/HFFG");

    [Theory]
    [InlineData(0, LakeAction.Left, 0, 0.0, false)]   // off the grid: stay
    [InlineData(0, LakeAction.Up, 0, 0.0, false)]
    [InlineData(0, LakeAction.Right, 1, 0.0, false)]
    [InlineData(0, LakeAction.Down, 4, 0.0, false)]
    [InlineData(1, LakeAction.Down, 5, 0.0, true)]    // into a hole: the episode ends without reward
    [InlineData(14, LakeAction.Right, 15, 1.0, true)] // into the goal: reward 1
    [InlineData(10, LakeAction.Down, 14, 0.0, false)]
    [InlineData(3, LakeAction.Right, 3, 0.0, false)]
    [InlineData(5, LakeAction.Right, 5, 0.0, true)]   // terminal states absorb
    public void StepsFollowGymnasiumSemantics(int state, LakeAction action, int next, double reward, bool done)
    {
        Assert.Equal((next, reward, done), Gym.Step(state, action));
    }

    [Theory]
    [InlineData("SFF/FF", "row 2")]
    [InlineData("SFX/FFG", "'X'")]
    [InlineData("FFF/FFG", "start")]
    [InlineData("SFF/FFF", "goal")]
    public void MalformedMapsAreRejectedWithTheReason(string layout, string mention)
    {
        var e = Assert.Throws<InputException>(() => FrozenLakeMap.Parse(layout));
        Assert.Contains(mention, e.Message);
    }

    [Fact]
    public void ValueIterationMatchesAHandSolvedMap()
    {
        // Map "SF/HG", discount 0.9. From F (1) Down reaches G: Q(1,Down) = 1, V(1) = 1.
        // From S (0): Right → F gives 0.9·V(1) = 0.9; Down → hole gives 0; Left/Up stay: 0.9·V(0) = 0.81.
        var map = FrozenLakeMap.Parse("SF/HG");
        var vi = ValueIteration.Solve(map, discount: 0.9);
        Assert.Equal(1.0, vi.Values[1], 9);
        Assert.Equal(0.9, vi.Values[0], 9);
        Assert.Equal(0.0, vi.Q[0, (int)LakeAction.Down], 9);
        Assert.Equal(0.81, vi.Q[0, (int)LakeAction.Left], 9);
        Assert.Equal(0.9 * 0.9, vi.Q[1, (int)LakeAction.Left], 9); // back to S
        var pi = vi.OptimalPolicy(map);
        Assert.Equal(1.0, pi[0, (int)LakeAction.Right]);
        Assert.Equal(1.0, pi[1, (int)LakeAction.Down]);
        Assert.Equal(0.25, pi[3, 0]); // terminal: uniform
    }

    [Fact]
    public void DefaultMapHasExactlyOneOptimalAndOneSubOptimalRoute()
    {
        var routes = Trajectory.HoleFreeRoutes(FrozenLakeMap.Default);
        Assert.Equal(2, routes.Count);
        Assert.Equal(8, routes[0].Length);
        Assert.Equal(12, routes[1].Length);
        Assert.Equal(new[] { LakeAction.Down, LakeAction.Down, LakeAction.Down, LakeAction.Down,
                             LakeAction.Right, LakeAction.Right, LakeAction.Right, LakeAction.Right }, routes[0].Actions);
        // The optimal route is what value iteration's greedy policy follows from the start.
        var pi = ValueIteration.Solve(FrozenLakeMap.Default).OptimalPolicy(FrozenLakeMap.Default);
        for (int t = 0; t < routes[0].Length; t++)
            Assert.Equal(1.0, pi[routes[0].States[t], (int)routes[0].Actions[t]]);
    }

    [Fact]
    public void ExploredCellsAndGreedySuccessOfTheOptimalPolicy()
    {
        var map = FrozenLakeMap.Default;
        var pi = ValueIteration.Solve(map).OptimalPolicy(map);
        Assert.True(FrozenLakeExperiment.GreedySuccess(pi, map));
        Assert.Equal(9, FrozenLakeExperiment.ExploredCells(pi, map, 0.05)); // the 9 cells of the 8-step route
    }
}

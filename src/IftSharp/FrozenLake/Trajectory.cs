namespace IftSharp.FrozenLake;

/// <summary>A route as a sequence of (state, action) pairs; the last action enters the goal.</summary>
public sealed record Trajectory(IReadOnlyList<int> States, IReadOnlyList<LakeAction> Actions)
{
    public int Length => Actions.Count;

    /// <summary>
    /// The hole-free simple routes from start to goal, shortest first (depth-first enumeration; the maps of this
    /// experiment are small). The first is the optimal route; the second, the sub-optimal one.
    /// </summary>
    public static IReadOnlyList<Trajectory> HoleFreeRoutes(FrozenLakeMap map, int limit = 1000)
    {
        var routes = new List<Trajectory>();
        var states = new List<int> { map.Start };
        var actions = new List<LakeAction>();
        var visited = new HashSet<int> { map.Start };
        void Search(int s)
        {
            if (routes.Count >= limit) return;
            for (int a = 0; a < FrozenLakeMap.ActionCount; a++)
            {
                var (next, _, _) = map.Step(s, (LakeAction)a);
                if (next == s || visited.Contains(next) || map.Cell(next) == 'H') continue;
                actions.Add((LakeAction)a);
                if (next == map.Goal) routes.Add(new Trajectory(states.ToList(), actions.ToList()));
                else
                {
                    visited.Add(next); states.Add(next);
                    Search(next);
                    visited.Remove(next); states.RemoveAt(states.Count - 1);
                }
                actions.RemoveAt(actions.Count - 1);
            }
        }
        Search(map.Start);
        return routes.OrderBy(r => r.Length).ToList();
    }
}

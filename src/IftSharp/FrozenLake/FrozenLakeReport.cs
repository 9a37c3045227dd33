using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using ScottPlot;

namespace IftSharp.FrozenLake;

/// <summary>Summaries and the files of a Frozen Lake run: results.json, results.csv, frozenlake.png.</summary>
public static class FrozenLakeReport
{
    public sealed record Summary(string Name, double ParameterMse, double ParameterMseStd, double PolicyMse, double PolicyMseStd,
        double SuccessRate, double Explored, double ExploredStd);

    /// <summary>Mean ± sample standard deviation over seeds, per method, after a "start" row (the untrained network).</summary>
    public static IReadOnlyList<Summary> Summarise(FrozenLakeResult result)
    {
        var rows = new List<Summary> { Summarise("start (no fine-tuning)", result.StartRuns) };
        foreach (var m in result.Runs.Select(r => r.Method).Distinct())
            rows.Add(Summarise(Name(m), result.Runs.Where(r => r.Method == m).ToList()));
        return rows;
    }

    /// <summary>A method's display name (<c>dpo</c> → DPO).</summary>
    public static string Name(string method) => Methods.MethodRegistry.Get(method).DisplayName;

    private static Summary Summarise(string name, IReadOnlyList<LakeRun> runs)
    {
        var (pm, ps) = Statistics.MeanStd(runs.Select(r => r.Metrics.ParameterMse));
        var (qm, qs) = Statistics.MeanStd(runs.Select(r => r.Metrics.PolicyMse));
        var (em, es) = Statistics.MeanStd(runs.Select(r => (double)r.Metrics.ExploredCells));
        return new Summary(name, pm, ps, qm, qs, runs.Average(r => r.Metrics.Success ? 1.0 : 0.0), em, es);
    }

    /// <summary>Writes the three files, each through a temporary file renamed into place.</summary>
    public static void Write(FrozenLakeResult result, string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), Json(result));
        AtomicFile.WriteAllText(Path.Combine(directory, "results.csv"), Csv(result));
        AtomicFile.Write(Path.Combine(directory, "frozenlake.png"), temp => Plot(result, temp));
    }

    public static string Json(FrozenLakeResult result)
    {
        var s = result.Settings;
        var root = new JsonObject
        {
            ["settings"] = JsonSerializer.SerializeToNode(s),
            ["map"] = result.Map.Layout,
            ["optimal_route"] = Route(result.Optimal),
            ["sub_optimal_route"] = Route(result.SubOptimal),
            ["runs"] = new JsonArray(result.StartRuns.Select(r => RunNode("start", r))
                .Concat(result.Runs.Select(r => RunNode(Name(r.Method), r))).ToArray<JsonNode?>()),
            ["summary"] = new JsonArray(Summarise(result).Select(x => JsonSerializer.SerializeToNode(x)).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonObject Route(Trajectory t) => new()
    {
        ["states"] = new JsonArray(t.States.Select(x => (JsonNode?)x).ToArray()),
        ["actions"] = new JsonArray(t.Actions.Select(a => (JsonNode?)a.ToString()).ToArray()),
    };

    private static JsonObject RunNode(string method, LakeRun r) => new()
    {
        ["method"] = method,
        ["seed"] = r.Seed,
        ["parameter_mse"] = r.Metrics.ParameterMse,
        ["policy_mse"] = r.Metrics.PolicyMse,
        ["greedy_success"] = r.Metrics.Success,
        ["explored_cells"] = r.Metrics.ExploredCells,
    };

    public static string Csv(FrozenLakeResult result)
    {
        var sb = new StringBuilder("method,seed,parameter_mse,policy_mse,greedy_success,explored_cells\n");
        foreach (var (name, r) in result.StartRuns.Select(r => ("start", r)).Concat(result.Runs.Select(r => (Name(r.Method), r))))
            sb.Append(CultureInfo.InvariantCulture,
                $"{name},{r.Seed},{r.Metrics.ParameterMse:R},{r.Metrics.PolicyMse:R},{(r.Metrics.Success ? 1 : 0)},"
                + $"{r.Metrics.ExploredCells}\n");
        return sb.ToString();
    }

    /// <summary>
    /// Top: bars with error bars per metric; bottom: the greedy policies of seed 0 drawn on the grid beside the optimal one.
    /// </summary>
    public static void Plot(FrozenLakeResult result, string path)
    {
        var summaries = Summarise(result).Skip(1).ToList();
        var metricPlots = new[]
        {
            BarPlot("Policy MSE to optimal (lower is closer)", summaries, x => (x.PolicyMse, x.PolicyMseStd)),
            BarPlot("Parameter MSE to optimal", summaries, x => (x.ParameterMse, x.ParameterMseStd)),
            BarPlot("Explored cells", summaries, x => (x.Explored, x.ExploredStd)),
        };
        var gridPlots = new List<Plot> { GridPlot("optimal network", result.Map, result.OptimalNetworkPolicy) };
        gridPlots.AddRange(result.FirstSeedPolicies.Select(p => GridPlot(Name(p.Key), result.Map, p.Value)));

        int columns = gridPlots.Count;
        var multiplot = new Multiplot();
        foreach (var p in metricPlots) multiplot.AddPlot(p);
        foreach (var p in gridPlots) multiplot.AddPlot(p);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.CustomGrid();
        var layout = (ScottPlot.MultiplotLayouts.CustomGrid)multiplot.Layout;
        int span = columns / metricPlots.Length;
        for (int i = 0; i < metricPlots.Length; i++) layout.Set(metricPlots[i], new GridCell(0, i * span, 2, columns, 1, span));
        for (int i = 0; i < gridPlots.Count; i++) layout.Set(gridPlots[i], new GridCell(1, i, 2, columns));
        multiplot.SavePng(path, 300 * columns, 700);
    }

    private static Plot BarPlot(string title, IReadOnlyList<Summary> rows, Func<Summary, (double Mean, double Std)> pick)
    {
        var plot = new Plot();
        var bars = rows
            .Select((r, i) => new Bar { Position = i, Value = pick(r).Mean, Error = pick(r).Std, FillColor = Palette(i) })
            .ToList();
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray(), rows.Select(r => r.Name).ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        return plot;
    }

    private static Color Palette(int i) => new ScottPlot.Palettes.Category10().GetColor(i);

    private static Plot GridPlot(string title, FrozenLakeMap map, double[,] pi)
    {
        var plot = new Plot();
        for (int s = 0; s < map.StateCount; s++)
        {
            var (r, c) = map.Position(s);
            double y = map.Rows - 1 - r;
            var rect = plot.Add.Rectangle(c, c + 1, y, y + 1);
            rect.FillColor = map.Cell(s) switch
            {
                'H' => Colors.Black.WithAlpha(0.75),
                'G' => Colors.Gold,
                'S' => Colors.LightGreen,
                _ => Colors.AliceBlue,
            };
            rect.LineColor = Colors.Gray;
            if (map.IsTerminal(s)) continue;
            int best = Enumerable.Range(0, 4).MaxBy(a => pi[s, a]);
            double p = pi[s, best];
            double len = 0.4 * p;
            var (dx, dy) = (LakeAction)best switch
            {
                LakeAction.Left => (-len, 0.0),
                LakeAction.Right => (len, 0.0),
                LakeAction.Up => (0.0, len),
                _ => (0.0, -len),
            };
            var center = new Coordinates(c + 0.5, y + 0.5);
            var arrow = plot.Add.Arrow(new Coordinates(center.X - dx, center.Y - dy), new Coordinates(center.X + dx, center.Y + dy));
            arrow.ArrowFillColor = Colors.DarkBlue.WithAlpha(0.3 + 0.7 * p);
            arrow.ArrowLineWidth = 0;
        }
        plot.HideAxesAndGrid();
        plot.Title(title); // after hiding the axes, which would hide the title too
        plot.Axes.SetLimits(-0.3, map.Columns + 0.3, -0.3, map.Rows + 0.3); // a gap between neighbouring grids
        plot.Axes.SquareUnits();
        return plot;
    }
}

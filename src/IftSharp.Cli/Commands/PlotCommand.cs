using System.CommandLine;
using System.Text.Json;
using IftSharp.Core;
using ScottPlot;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp plot OUTPUT</c>: draws the curves of OUTPUT/metrics.jsonl into OUTPUT/metrics.png.</summary>
public static class PlotCommand
{
    public static Command Create()
    {
        var output = new Argument<string>("output") { Description = "A training output folder holding metrics.jsonl." };
        var command = new Command("plot",
            "Draw the loss, learning rate and gradient norm of a training run (metrics.jsonl) to metrics.png.");
        command.Arguments.Add(output);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var dir = parse.GetValue(output)!;
            var path = Path.Combine(dir, "metrics.jsonl");
            if (!File.Exists(path)) throw new InputException($"{path}: file not found; expected the metrics of a training run");
            var series = new Dictionary<string, List<(double Step, double Value)>>();
            foreach (var (line, row) in IftSharp.Data.DatasetRows.Read(path))
            {
                if (!row.TryGetProperty("step", out var step)) throw InputException.At(path, line, "step", "missing");
                foreach (var p in row.EnumerateObject())
                    if (p.Name != "step" && p.Value.ValueKind == JsonValueKind.Number)
                    {
                        var points = series.TryGetValue(p.Name, out var list) ? list : series[p.Name] = [];
                        points.Add((step.GetDouble(), p.Value.GetDouble()));
                    }
            }
            var names = new[] { "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second" }.Where(series.ContainsKey).ToList();
            var multiplot = new Multiplot();
            var layout = new ScottPlot.MultiplotLayouts.CustomGrid();
            multiplot.Layout = layout;
            foreach (var (name, index) in names.Select((n, i) => (n, i)))
            {
                var plot = new Plot();
                multiplot.AddPlot(plot);
                layout.Set(plot, new GridCell(0, index, 1, names.Count));
                plot.Add.ScatterLine(series[name].Select(p => p.Step).ToArray(), series[name].Select(p => p.Value).ToArray());
                plot.Title(name);
                plot.XLabel("step");
            }
            var png = Path.Combine(dir, "metrics.png");
            IftSharp.Core.AtomicFile.Write(png, temp => multiplot.SavePng(temp, 400 * names.Count, 360));
            Console.WriteLine($"Wrote {png}");
            return 0;
        }));
        return command;
    }
}

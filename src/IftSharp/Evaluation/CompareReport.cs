using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using IftSharp.FrozenLake;
using ScottPlot;

namespace IftSharp.Evaluation;

/// <summary>The comparison's files: results.md (the paper's Table 2 shape), results.json, compare.png.</summary>
public static class CompareReport
{
    public sealed record Row(string Method, int Seeds, (double Mean, double Std) Reasoning, (double Mean, double Std) FactFollowing,
        (double Mean, double Std) MultipleChoice, (double Mean, double Std) Average, (double Mean, double Std) Perplexity, double TrainSeconds);

    public static readonly string[] Tasks = ["Reasoning", "Fact following", "Multiple choice", "Average"];

    /// <summary>Mean ± sample standard deviation over seeds per method, after the base model's row.</summary>
    public static IReadOnlyList<Row> Summarise(CompareResult result)
    {
        var rows = new List<Row> { Summarise("Base", [result.Base], [0]) };
        foreach (var name in result.Runs.Select(r => r.Method).Distinct())
        {
            var runs = result.Runs.Where(r => r.Method == name).ToList();
            rows.Add(Summarise(name, runs.Select(r => r.Scores).ToList(), runs.Select(r => r.TrainSeconds).ToList()));
        }
        return rows;
    }

    private static Row Summarise(string name, IReadOnlyList<TaskScores> s, IReadOnlyList<double> seconds) => new(name, s.Count,
        Statistics.MeanStd(s.Select(x => x.Reasoning)), Statistics.MeanStd(s.Select(x => x.FactFollowing)),
        Statistics.MeanStd(s.Select(x => x.MultipleChoice)), Statistics.MeanStd(s.Select(x => x.Average)),
        Statistics.MeanStd(s.Select(x => x.Perplexity)), seconds.Average());

    public static void Write(CompareResult result, string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, "results.md"), Markdown(result));
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), Json(result));
        AtomicFile.Write(Path.Combine(directory, "compare.png"), temp => Plot(result, temp));
    }

    private static string Pct((double Mean, double Std) v, int seeds) =>
        seeds > 1 ? string.Create(CultureInfo.InvariantCulture, $"{100 * v.Mean:F1} ± {100 * v.Std:F1}") : string.Create(CultureInfo.InvariantCulture, $"{100 * v.Mean:F1}");

    public static string Markdown(CompareResult result)
    {
        var s = result.Settings;
        var rows = Summarise(result);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"""
            # IftSharp compare: the IFT paper's method comparison at CPU scale

            Accuracy in % (mean ± std over {s.Seeds} seed{(s.Seeds > 1 ? "s" : "")}; the base model is one model); perplexity of held-out text (lower is better).
            Reasoning and fact following: exact match of the greedy answer; multiple choice: highest log-likelihood of four options.

            | Method | Reasoning | Fact following | Multiple choice | Average | Perplexity | Train s |
            |---|---|---|---|---|---|---|

            """);
        foreach (var r in rows)
            sb.Append(CultureInfo.InvariantCulture,
                $"| {r.Method} | {Pct(r.Reasoning, r.Seeds)} | {Pct(r.FactFollowing, r.Seeds)} | {Pct(r.MultipleChoice, r.Seeds)} | {Pct(r.Average, r.Seeds)} | {r.Perplexity.Mean:F3} | {(r.Method == "Base" ? "" : r.TrainSeconds.ToString("F0", CultureInfo.InvariantCulture))} |\n");
        var b = s.Base; var f = s.FineTune;
        sb.Append(CultureInfo.InvariantCulture, $"""

            Base model: Llama-style, {b.Layers} layers, hidden {b.HiddenSize}, {b.AttentionHeads}/{b.KeyValueHeads} heads, byte-level vocabulary, {result.BaseParameters:N0} parameters, pretrained {b.Steps} steps of {b.BatchSize} on {b.Documents:N0} generated documents.
            Fine-tuning: every method {f.Steps} AdamW steps of {f.BatchSize} prompts at learning rate {f.LearningRate:G3} (cosine, 10% warm-up) on the same {result.Data[0].Pairs} prompts; sequential recipes spend half the steps on each stage.
            Coefficients (each method's defaults): {Coefficients()}.
            Rejected answers: {string.Join("; ", result.Data.Select(d => $"seed {d.Seed}: {d.SampledRejected} of {d.Pairs} sampled from the base model, {d.CorruptedRejected} corrupted solutions"))}.
            Evaluation items: {result.EvalCounts["reasoning"]} reasoning, {result.EvalCounts["fact_following"]} fact following, {result.EvalCounts["multiple_choice"]} multiple choice, {result.EvalCounts["held_out_texts"]} held-out texts.
            Total run time: {result.Seconds / 60:F1} min.

            """);
        return sb.ToString();
    }

    /// <summary>The settings every method of the comparison trained with, from the registry.</summary>
    private static string Coefficients() => string.Join("; ", CompareRecipe.All.SelectMany(r => r.Stages).Select(s => s.Method).Distinct()
        .Select(name => Methods.MethodRegistry.Get(name)).Select(m => $"{m.DisplayName} {Methods.MethodRegistry.DescribeDefaults(m)}"));

    public static string Json(CompareResult result)
    {
        var root = new JsonObject
        {
            ["settings"] = JsonSerializer.SerializeToNode(result.Settings),
            ["base_parameters"] = result.BaseParameters,
            ["seconds"] = result.Seconds,
            ["eval_counts"] = JsonSerializer.SerializeToNode(result.EvalCounts),
            ["data"] = JsonSerializer.SerializeToNode(result.Data),
            ["base"] = Scores(result.Base),
            ["runs"] = new JsonArray(result.Runs.Select(r => (JsonNode?)new JsonObject
            {
                ["method"] = r.Method, ["seed"] = r.Seed, ["train_seconds"] = r.TrainSeconds, ["model"] = r.ModelDirectory, ["scores"] = Scores(r.Scores),
            }).ToArray()),
            ["summary"] = new JsonArray(Summarise(result).Select(r => (JsonNode?)new JsonObject
            {
                ["method"] = r.Method, ["seeds"] = r.Seeds,
                ["reasoning"] = MeanStd(r.Reasoning), ["fact_following"] = MeanStd(r.FactFollowing), ["multiple_choice"] = MeanStd(r.MultipleChoice),
                ["average"] = MeanStd(r.Average), ["perplexity"] = MeanStd(r.Perplexity),
            }).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonObject Scores(TaskScores s) => new()
    {
        ["reasoning"] = s.Reasoning, ["fact_following"] = s.FactFollowing, ["multiple_choice"] = s.MultipleChoice, ["average"] = s.Average, ["perplexity"] = s.Perplexity,
    };

    private static JsonObject MeanStd((double Mean, double Std) v) => new() { ["mean"] = v.Mean, ["std"] = v.Std };

    /// <summary>Grouped bars: a group per task (and the average), a bar per method, error bars of one standard deviation.</summary>
    public static void Plot(CompareResult result, string path)
    {
        var rows = Summarise(result);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        double width = 1.0 / (rows.Count + 1);
        for (int m = 0; m < rows.Count; m++)
        {
            var r = rows[m];
            (double Mean, double Std)[] values = [r.Reasoning, r.FactFollowing, r.MultipleChoice, r.Average];
            var bars = values.Select((v, t) => new Bar
            {
                Position = t + (m - (rows.Count - 1) / 2.0) * width, Value = 100 * v.Mean, Error = 100 * v.Std, FillColor = palette.GetColor(m), Size = width * 0.9,
            }).ToList();
            var barPlot = plot.Add.Bars(bars);
            barPlot.LegendText = r.Method;
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, Tasks.Length).Select(i => (double)i).ToArray(), Tasks);
        plot.Axes.Margins(bottom: 0);
        plot.YLabel("accuracy (%)");
        plot.Title($"IftSharp compare: {result.Settings.Seeds} seed(s), mean ± std");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1200, 600);
    }
}

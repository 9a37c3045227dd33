using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using ScottPlot;

namespace IftSharp.Evaluation;

/// <summary>
/// The comparison's files: results.md (the paper's Table 2 shape, at the shared learning rate and at each method's
/// validation-chosen one, final model and validation-chosen checkpoint; the differences from SFT with paired bootstrap
/// intervals; the IFT ablations; where the time went), results.json, compare.png and sensitivity.png.
/// </summary>
public static class CompareReport
{
    public sealed record Row(string Method, int Seeds, (double Mean, double Std) Reasoning, (double Mean, double Std) FactFollowing,
        (double Mean, double Std) MultipleChoice, (double Mean, double Std) Average, (double Mean, double Std) Perplexity,
        double TrainSeconds)
    {
        /// <summary>The learning rate of the row's runs (0 for the base model).</summary>
        public double LearningRate { get; init; }

        /// <summary>The steps of the chosen checkpoints, one per seed ("" for final-model rows).</summary>
        public string Steps { get; init; } = "";
    }

    /// <summary>Which model of a run a table reports.</summary>
    public enum Pick { Final, Selected }

    public static readonly string[] Tasks = ["Reasoning", "Fact following", "Multiple choice", "Average"];
    private const int Resamples = 10000;
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>The recipes in the registry's order, those the result has runs of.</summary>
    private static List<CompareRecipe> Recipes(CompareResult result) =>
        CompareRecipe.All.Where(r => result.Runs.Any(x => x.Method == r.Name)).ToList();

    /// <summary>
    /// Each recipe's learning rate chosen on validation by the tuning seeds (<see cref="ChooseLearningRates"/> of their
    /// runs; the later seeds trained only the shared rate and the chosen one, so they have no say).
    /// </summary>
    public static IReadOnlyDictionary<string, double> ChosenLearningRates(CompareResult result) => ChooseLearningRates(TuningRuns(result));

    /// <summary>
    /// Each recipe's learning rate chosen on validation from <paramref name="runs"/>: the grid value with the best mean
    /// over their seeds of the validation average of the chosen checkpoints (the smaller rate on a tie).
    /// </summary>
    public static IReadOnlyDictionary<string, double> ChooseLearningRates(IEnumerable<CompareRun> runs) =>
        runs.GroupBy(r => r.Method).ToDictionary(g => g.Key, g => g.GroupBy(r => r.LearningRate)
            .OrderByDescending(l => l.Average(r => r.BestValidation)).ThenBy(l => l.Key).First().Key);

    /// <summary>The runs of the tuning seeds: every recipe at every rate of the grid.</summary>
    public static IReadOnlyList<CompareRun> TuningRuns(CompareResult result) =>
        result.Runs.Where(r => r.Seed <= result.Settings.FineTune.TuningSeeds).ToList();

    /// <summary>"seed 1", "seeds 1-2": the tuning seeds, for captions.</summary>
    internal static string TuningSeedsText(CompareSettings s) =>
        s.FineTune.TuningSeeds == 1 ? "seed 1" : $"seeds 1-{s.FineTune.TuningSeeds}";

    /// <summary>The protocol in one paragraph (the report's header and results.json's <c>protocol</c>).</summary>
    public static string Protocol(CompareSettings s)
    {
        var f = s.FineTune;
        string grid = string.Join(", ", f.LearningRates.Select(Lr));
        if (f.TuningSeeds == s.Seeds)
            return $"Every recipe is trained at every learning rate of the grid ({grid}) on every seed, and a method's learning "
                + "rate is the one whose chosen checkpoints have the best mean validation average over the seeds.";
        bool one = f.TuningSeeds == 1;
        return $"Learning rates are tuned on the first {(one ? "seed" : $"{f.TuningSeeds} seeds")} of {s.Seeds}: there every "
            + $"recipe is trained at every learning rate of the grid ({grid}), and a method's learning rate is the one whose "
            + $"chosen checkpoints have the best mean validation average {(one ? "on that seed" : "over those seeds")}; each "
            + $"later seed trains a recipe only at the shared rate {Lr(f.LearningRate)} and at its chosen rate (once when they "
            + $"coincide). The tables and the bootstrap intervals are over all {s.Seeds} seeds, the sensitivity table over "
            + $"the tuning {TuningSeedsText(s)} only.";
    }

    /// <summary>The runs of a recipe at the shared learning rate, or at its chosen one.</summary>
    public static IReadOnlyList<CompareRun> RunsOf(CompareResult result, string method, bool tuned)
    {
        double lr = tuned ? ChosenLearningRates(result)[method] : result.Settings.FineTune.LearningRate;
        return result.Runs.Where(r => r.Method == method && r.LearningRate == lr).OrderBy(r => r.Seed).ToList();
    }

    /// <summary>Mean ± sample standard deviation over seeds per recipe, after the base model's row.</summary>
    public static IReadOnlyList<Row> Summarise(CompareResult result, bool tuned = false, Pick pick = Pick.Final)
    {
        var rows = new List<Row> { Summarise("Base", [result.Base.Scores], [0]) };
        foreach (var recipe in Recipes(result))
        {
            var runs = RunsOf(result, recipe.Name, tuned);
            if (runs.Count == 0) continue;
            rows.Add(Summarise(recipe.Name, runs.Select(r => Of(r, pick).Scores).ToList(), runs.Select(r => r.TrainSeconds).ToList()) with
            {
                LearningRate = runs[0].LearningRate,
                Steps = pick == Pick.Selected ? string.Join(", ", runs.Select(r => r.SelectedStep)) : "",
            });
        }
        return rows;
    }

    private static ItemScores Of(CompareRun run, Pick pick) => pick == Pick.Final ? run.Final : run.Selected;

    private static Row Summarise(string name, IReadOnlyList<TaskScores> s, IReadOnlyList<double> seconds) => new(name, s.Count,
        Statistics.MeanStd(s.Select(x => x.Reasoning)), Statistics.MeanStd(s.Select(x => x.FactFollowing)),
        Statistics.MeanStd(s.Select(x => x.MultipleChoice)), Statistics.MeanStd(s.Select(x => x.Average)),
        Statistics.MeanStd(s.Select(x => x.Perplexity)), seconds.Average());

    /// <summary>One difference between two recipes' average accuracy, with its paired bootstrap interval.</summary>
    public sealed record Difference(string Method, string Against, string Table, Statistics.Interval Interval);

    /// <summary>
    /// A's average minus B's, with the paired bootstrap 95 % interval over evaluation items: each item's outcome is
    /// averaged over the seeds first (so the seeds' variation is inside each item's score), then the items of each task
    /// are resampled together for both methods, the three tasks weighing equally as in the average.
    /// </summary>
    public static Statistics.Interval Compare(IReadOnlyList<CompareRun> a, IReadOnlyList<CompareRun> b, Pick pick, int seed = 0)
    {
        static double[] PerItem(IReadOnlyList<CompareRun> runs, Pick pick, Func<ItemScores, IReadOnlyList<bool>> task) =>
            Enumerable.Range(0, task(Of(runs[0], pick)).Count)
                .Select(i => runs.Average(r => task(Of(r, pick))[i] ? 1.0 : 0.0)).ToArray();
        Func<ItemScores, IReadOnlyList<bool>>[] tasks = [s => s.Reasoning, s => s.FactFollowing, s => s.MultipleChoice];
        return Statistics.PairedBootstrap(tasks.Select(t => (PerItem(a, pick, t), PerItem(b, pick, t))).ToList(), Resamples, seed);
    }

    /// <summary>
    /// The differences the report tests: every recipe against SFT (shared lr, final model; each method's lr, chosen
    /// checkpoint), IFT against SFT→DPO, and every IFT ablation against IFT.
    /// </summary>
    public static IReadOnlyList<Difference> Differences(CompareResult result)
    {
        var list = new List<Difference>();
        var names = Recipes(result).Select(r => r.Name).ToList();
        (bool Tuned, Pick Pick, string Label)[] tables =
            [(false, Pick.Final, "shared lr, final"), (true, Pick.Selected, "per-method lr, chosen checkpoint")];
        foreach (var (tuned, pick, label) in tables)
        {
            void Add(string a, string b)
            {
                if (!names.Contains(a) || !names.Contains(b)) return;
                list.Add(new Difference(a, b, label, Compare(RunsOf(result, a, tuned), RunsOf(result, b, tuned), pick)));
            }
            foreach (var name in names.Where(n => n != "SFT")) Add(name, "SFT");
            Add("IFT", "SFT→DPO");
            foreach (var ablation in CompareRecipe.All.Where(r => r.IsAblation)) Add(ablation.Name, "IFT");
        }
        return list;
    }

    public static void Write(CompareResult result, string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, "results.md"), Markdown(result));
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), Json(result));
        AtomicFile.Write(Path.Combine(directory, "compare.png"), temp => Plot(result, temp));
        AtomicFile.Write(Path.Combine(directory, "sensitivity.png"), temp => PlotSensitivity(result, temp));
    }

    private static string Pct((double Mean, double Std) v, int seeds) => seeds > 1
        ? string.Create(Invariant, $"{100 * v.Mean:F1} ± {100 * v.Std:F1}")
        : string.Create(Invariant, $"{100 * v.Mean:F1}");

    private static string Lr(double lr) => lr.ToString("0.#####E+0", Invariant).Replace("E+0", "").Replace("E-", "e-");

    private static string Points(double v) => string.Create(Invariant, $"{100 * v:+0.0;-0.0;0.0}");

    private static string Table(IReadOnlyList<Row> rows, bool lrColumn, bool stepsColumn)
    {
        var sb = new StringBuilder();
        sb.Append("| Method |" + (lrColumn ? " lr |" : "") + " Reasoning | Fact following | Multiple choice | Average | Perplexity |"
            + (stepsColumn ? " Steps chosen |" : " Train s |") + "\n");
        sb.Append("|---|" + (lrColumn ? "---|" : "") + "---|---|---|---|---|---|\n");
        foreach (var r in rows)
        {
            bool isBase = r.Method == "Base";
            sb.Append(Invariant, $"| {r.Method} |{(lrColumn ? $" {(isBase ? "" : Lr(r.LearningRate))} |" : "")} ");
            sb.Append(Invariant, $"{Pct(r.Reasoning, r.Seeds)} | {Pct(r.FactFollowing, r.Seeds)} | {Pct(r.MultipleChoice, r.Seeds)} | ");
            sb.Append(Invariant, $"{Pct(r.Average, r.Seeds)} | {r.Perplexity.Mean:F3} | ");
            sb.Append(stepsColumn ? r.Steps : isBase ? "" : r.TrainSeconds.ToString("F0", Invariant));
            sb.Append(" |\n");
        }
        return sb.ToString();
    }

    public static string Markdown(CompareResult result)
    {
        var s = result.Settings;
        var b = s.Base;
        var f = s.FineTune;
        var c = result.EvalCounts;
        var sb = new StringBuilder();
        string seeds = $"{s.Seeds} seed{(s.Seeds > 1 ? "s" : "")}";
        sb.Append(Invariant, $"""
            # IftSharp compare: the IFT paper's method comparison at CPU scale

            Accuracy in % on the evaluation split (mean ± std over {seeds}; the base model is one model); perplexity of held-out
            text (lower is better). Reasoning and fact following: exact match of the greedy answer; multiple choice: highest
            log-likelihood of four options. Each run is scored on the validation split ({c["validation_reasoning"]}
            reasoning, {c["validation_fact_following"]} fact-following, {c["validation_multiple_choice"]} multiple-choice
            items, disjoint from the fine-tuning and evaluation items) every 1/{f.Checkpoints} of its steps; the "chosen
            checkpoint" is the one with the best validation average (the paper's App. B.1).
            {Protocol(s)}

            ## Shared learning rate {Lr(f.LearningRate)}: final model

            {Table(Summarise(result, tuned: false, Pick.Final), lrColumn: false, stepsColumn: false)}
            ## Shared learning rate {Lr(f.LearningRate)}: validation-chosen checkpoint

            {Table(Summarise(result, tuned: false, Pick.Selected), lrColumn: false, stepsColumn: true)}
            ## Each method's learning rate (chosen on the tuning seeds' validation): validation-chosen checkpoint

            {Table(Summarise(result, tuned: true, Pick.Selected), lrColumn: true, stepsColumn: true)}
            ## Each method's learning rate: final model

            {Table(Summarise(result, tuned: true, Pick.Final), lrColumn: true, stepsColumn: false)}
            ## Sensitivity: validation average (%) of the chosen checkpoints against the learning rate

            Over the tuning {TuningSeedsText(s)} only (where the whole grid is trained and each method's rate chosen).

            {SensitivityTable(result)}
            ![sensitivity](sensitivity.png)

            ## Differences (points of average accuracy) with paired bootstrap 95 % intervals

            Each evaluation item's outcome averaged over all the seeds, items resampled {Resamples:N0} times within each task
            (paired: both methods' scores of an item move together), the three tasks weighing equally. **Bold**: the interval
            leaves out 0.

            {DifferenceTable(result)}
            """);
        sb.Append(Invariant, $"""

            ## Setup and time

            Base model: Llama-style, {b.Layers} layers, hidden {b.HiddenSize}, {b.AttentionHeads}/{b.KeyValueHeads} heads,
            byte-level vocabulary, {result.BaseParameters:N0} parameters, pretrained {b.Steps} steps of {b.BatchSize} on
            {b.Documents:N0} generated documents ({result.PretrainingTokens:N0} tokens, learning rate {Lr(b.LearningRate)}).
            Fine-tuning: every recipe {f.Steps} AdamW steps of {f.BatchSize} prompts (cosine, 10% warm-up) on the same
            {result.Data[0].Pairs} prompts at each learning rate it is trained at; sequential recipes spend half the steps on
            each stage (their checkpoints are the second stage's).
            Coefficients (each method's defaults): {Coefficients()}.
            IFT ablations: {string.Join("; ", CompareRecipe.All.Where(r => r.IsAblation)
                .Select(r => $"{r.Name} = ift with {string.Join(", ", r.Stages[0].Settings!.Select(kv => $"--{kv.Key} {kv.Value}"))}"))}.
            Rejected answers: {string.Join("; ", result.Data.Select(d => $"seed {d.Seed}: {d.SampledRejected} of {d.Pairs} sampled "
                + $"from the base model, {d.CorruptedRejected} corrupted solutions"))}.
            Evaluation items: {c["reasoning"]} reasoning, {c["fact_following"]} fact following, {c["multiple_choice"]} multiple
            choice, {c["held_out_texts"]} held-out texts.

            {TimeTable(result)}
            """);
        return sb.ToString();
    }

    private static string SensitivityTable(CompareResult result)
    {
        var grid = result.Settings.FineTune.LearningRates;
        var chosen = ChosenLearningRates(result);
        var tuning = TuningRuns(result);
        var sb = new StringBuilder("| Method |" + string.Concat(grid.Select(lr => $" {Lr(lr)} |")) + " chosen |\n");
        sb.Append("|---|" + string.Concat(grid.Select(_ => "---|")) + "---|\n");
        foreach (var recipe in Recipes(result))
        {
            sb.Append($"| {recipe.Name} |");
            foreach (var lr in grid)
            {
                var runs = tuning.Where(r => r.Method == recipe.Name && r.LearningRate == lr).ToList();
                sb.Append(runs.Count == 0 ? " |" : string.Create(Invariant, $" {100 * runs.Average(r => r.BestValidation):F1} |"));
            }
            sb.Append($" {Lr(chosen[recipe.Name])} |\n");
        }
        return sb.ToString();
    }

    private static string DifferenceTable(CompareResult result)
    {
        var sb = new StringBuilder("| Difference | Table | Δ average | 95 % interval |\n|---|---|---|---|\n");
        foreach (var d in Differences(result))
        {
            var i = d.Interval;
            sb.Append($"| {d.Method} − {d.Against} | {d.Table} | {(i.Significant ? $"**{Points(i.Estimate)}**" : Points(i.Estimate))} | "
                + $"[{Points(i.Low)}, {Points(i.High)}] |\n");
        }
        return sb.ToString();
    }

    private static string TimeTable(CompareResult result)
    {
        var t = result.Stages;
        string Row(string name, double seconds) =>
            string.Create(Invariant, $"| {name} | {seconds / 60:F1} | {100 * seconds / Math.Max(t.Total, 1e-9):F0} % |\n");
        return "Time of the stages (minutes, summed over every stage folder, cached ones included):\n\n"
            + "| Stage | min | share |\n|---|---|---|\n"
            + Row("pretraining the base", t.Pretraining) + Row("sampling rejected answers", t.Sampling)
            + Row("fine-tuning", t.Training) + Row("validation scoring (checkpoints)", t.Validation)
            + Row("evaluation scoring", t.Evaluation) + Row("all", t.Total)
            + string.Create(Invariant, $"\nWall time of this invocation (cached stages are not redone): {result.Seconds / 60:F1} min.\n");
    }

    /// <summary>The settings every method of the comparison trained with, from the registry.</summary>
    private static string Coefficients() => string.Join("; ", CompareRecipe.All.SelectMany(r => r.Stages).Select(s => s.Method).Distinct()
        .Select(name => Methods.MethodRegistry.Get(name)).Select(m => $"{m.DisplayName} {Methods.MethodRegistry.DescribeDefaults(m)}"));

    public static string Json(CompareResult result)
    {
        JsonArray Rows(bool tuned, Pick pick) => new(Summarise(result, tuned, pick).Select(r => (JsonNode?)new JsonObject
        {
            ["method"] = r.Method, ["seeds"] = r.Seeds, ["learning_rate"] = r.LearningRate, ["steps_chosen"] = r.Steps,
            ["reasoning"] = MeanStd(r.Reasoning), ["fact_following"] = MeanStd(r.FactFollowing),
            ["multiple_choice"] = MeanStd(r.MultipleChoice),
            ["average"] = MeanStd(r.Average), ["perplexity"] = MeanStd(r.Perplexity),
        }).ToArray());
        var root = new JsonObject
        {
            ["settings"] = JsonSerializer.SerializeToNode(result.Settings),
            ["tuning_seeds"] = result.Settings.FineTune.TuningSeeds,
            ["protocol"] = Protocol(result.Settings),
            ["base_parameters"] = result.BaseParameters,
            ["pretraining_tokens"] = result.PretrainingTokens,
            ["seconds"] = result.Seconds,
            ["stage_seconds"] = JsonSerializer.SerializeToNode(result.Stages),
            ["eval_counts"] = JsonSerializer.SerializeToNode(result.EvalCounts),
            ["data"] = JsonSerializer.SerializeToNode(result.Data),
            ["base"] = Scores(result.Base),
            ["runs"] = new JsonArray(result.Runs.Select(r => (JsonNode?)new JsonObject
            {
                ["method"] = r.Method, ["seed"] = r.Seed, ["learning_rate"] = r.LearningRate, ["train_seconds"] = r.TrainSeconds,
                ["model"] = r.ModelDirectory, ["final"] = Scores(r.Final), ["selected_step"] = r.SelectedStep,
                ["selected"] = Scores(r.Selected),
                ["validation"] = JsonSerializer.SerializeToNode(r.Validation.Select(v => new
                {
                    step = v.Step, v.Reasoning, v.FactFollowing,
                    v.MultipleChoice, v.Average
                })),
            }).ToArray()),
            ["chosen_learning_rates"] = JsonSerializer.SerializeToNode(ChosenLearningRates(result)),
            ["summary"] = Rows(false, Pick.Final),
            ["summary_shared_lr_chosen_checkpoint"] = Rows(false, Pick.Selected),
            ["summary_per_method_lr_chosen_checkpoint"] = Rows(true, Pick.Selected),
            ["summary_per_method_lr_final"] = Rows(true, Pick.Final),
            ["differences"] = new JsonArray(Differences(result).Select(d => (JsonNode?)new JsonObject
            {
                ["method"] = d.Method, ["against"] = d.Against, ["table"] = d.Table, ["estimate"] = d.Interval.Estimate,
                ["low"] = d.Interval.Low, ["high"] = d.Interval.High, ["significant"] = d.Interval.Significant,
            }).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A model's scores and its outcomes per item as a string of 0s and 1s (compact, in item order).</summary>
    private static JsonObject Scores(ItemScores s) => new()
    {
        ["reasoning"] = s.Scores.Reasoning, ["fact_following"] = s.Scores.FactFollowing, ["multiple_choice"] = s.Scores.MultipleChoice,
        ["average"] = s.Scores.Average, ["perplexity"] = s.Scores.Perplexity,
        ["items"] = new JsonObject
        {
            ["reasoning"] = Bits(s.Reasoning), ["fact_following"] = Bits(s.FactFollowing), ["multiple_choice"] = Bits(s.MultipleChoice),
        },
    };

    private static string Bits(IReadOnlyList<bool> outcomes) => string.Concat(outcomes.Select(x => x ? '1' : '0'));

    private static JsonObject MeanStd((double Mean, double Std) v) => new() { ["mean"] = v.Mean, ["std"] = v.Std };

    /// <summary>
    /// Grouped bars at each method's chosen learning rate and checkpoint: a group per task (and the average), a bar per
    /// method, error bars of one standard deviation.
    /// </summary>
    public static void Plot(CompareResult result, string path)
    {
        var rows = Summarise(result, tuned: true, Pick.Selected);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category20();
        double width = 1.0 / (rows.Count + 1);
        for (int m = 0; m < rows.Count; m++)
        {
            var r = rows[m];
            (double Mean, double Std)[] values = [r.Reasoning, r.FactFollowing, r.MultipleChoice, r.Average];
            var bars = values.Select((v, t) => new Bar
            {
                Position = t + (m - (rows.Count - 1) / 2.0) * width, Value = 100 * v.Mean, Error = 100 * v.Std,
                FillColor = palette.GetColor(m), Size = width * 0.9,
            }).ToList();
            var barPlot = plot.Add.Bars(bars);
            barPlot.LegendText = r.Method;
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, Tasks.Length).Select(i => (double)i).ToArray(), Tasks);
        plot.Axes.Margins(bottom: 0);
        plot.YLabel("accuracy (%)");
        plot.Title($"IftSharp compare: each method's lr and chosen checkpoint, {result.Settings.Seeds} seed(s), mean ± std");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1400, 650);
    }

    /// <summary>
    /// Validation average of the chosen checkpoints (mean over the tuning seeds) against log10 of the learning rate, a line
    /// per recipe.
    /// </summary>
    public static void PlotSensitivity(CompareResult result, string path)
    {
        var grid = result.Settings.FineTune.LearningRates.OrderBy(x => x).ToArray();
        var tuning = TuningRuns(result);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category20();
        int m = 0;
        foreach (var recipe in Recipes(result))
        {
            var points = grid.Select(lr => (lr, runs: tuning.Where(r => r.Method == recipe.Name && r.LearningRate == lr).ToList()))
                .Where(p => p.runs.Count > 0).ToList();
            var line = plot.Add.Scatter(points.Select(p => Math.Log10(p.lr)).ToArray(),
                points.Select(p => 100 * p.runs.Average(r => r.BestValidation)).ToArray(), palette.GetColor(m++));
            line.LegendText = recipe.Name;
            if (recipe.IsAblation) line.LinePattern = LinePattern.Dashed;
        }
        plot.Axes.Bottom.SetTicks(grid.Select(Math.Log10).ToArray(), grid.Select(Lr).ToArray());
        plot.XLabel("learning rate");
        plot.YLabel("validation average (%)");
        plot.Title($"Learning-rate sensitivity (validation split, chosen checkpoints, tuning {TuningSeedsText(result.Settings)})");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1000, 650);
    }
}

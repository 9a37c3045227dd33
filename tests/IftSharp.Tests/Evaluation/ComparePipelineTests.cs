using System.Text.Json;
using IftSharp.Evaluation;
using Xunit;

namespace IftSharp.Tests.Evaluation;

/// <summary>
/// The comparison end to end: the quick preset, shrunk further so it runs in seconds, goes through every stage
/// (pretraining, sampling rejected answers, every recipe at two learning rates, validation of the checkpoints,
/// evaluation of the final and chosen models, report), and a second run reuses every stage.
/// </summary>
public class ComparePipelineTests
{
    private static CompareSettings Tiny => CompareSettings.Quick with
    {
        Base = CompareSettings.Quick.Base with
        {
            HiddenSize = 32,
            IntermediateSize = 64,
            Layers = 1,
            AttentionHeads = 2,
            KeyValueHeads = 1,
            Documents = 200,
            Steps = 6,
            BatchSize = 4,
            MaxLength = 256,
        },
        FineTune = CompareSettings.Quick.FineTune with
        {
            ReasoningPrompts = 6,
            FactPrompts = 6,
            Steps = 4,
            BatchSize = 2,
            MaxNewTokens = 16,
            LearningRates = [3e-4, 1e-3],
            LearningRate = 3e-4,
            Checkpoints = 2,
        },
        Validation = new ValidationSettings { ReasoningItems = 2, FactItems = 2, MultipleChoiceItems = 2 },
        // One recipe of each kind of stage the pipeline handles (single-target, pairs with a precomputed reference,
        // unpaired, an ablation's settings, two stages); every recipe's construction is checked without training below.
        Recipes = ["SFT", "DPO", "KTO", "SFT→DPO", "IFT γ only (λ 0)"],
        Eval = CompareSettings.Quick.Eval with
        {
            ReasoningItems = 4,
            FactItems = 4,
            MultipleChoiceItems = 4,
            HeldOutTexts = 4,
            MaxNewTokens = 16,
        },
    };

    [Fact]
    public void TheWholePathRunsWritesTheReportAndAResumedRunReusesEveryStage()
    {
        var dir = Directory.CreateTempSubdirectory("iftsharp-compare").FullName;
        try
        {
            var stages = new List<string>();
            var result = new ComparePipeline(Tiny, dir, p => stages.Add(p.Stage)).Run();
            var names = Tiny.Recipes!.ToList();
            Assert.Equal(Tiny.FineTune.LearningRates.SelectMany(_ => names), result.Runs.Select(r => r.Method));
            Assert.Equal(Tiny.FineTune.LearningRates.SelectMany(lr => names.Select(_ => lr)), result.Runs.Select(r => r.LearningRate));
            Assert.All(result.Runs, r => Assert.InRange(r.Scores.Average, 0, 1));
            Assert.All(result.Runs, r => Assert.True(r.Scores.Perplexity > 1));
            Assert.All(result.Runs, r => Assert.Equal(4, r.Final.Reasoning.Count));
            // Validated every half of the steps (a sequential recipe: every half of its second stage); the chosen one is the best.
            foreach (var run in result.Runs)
            {
                int[] expected = CompareRecipe.All.Single(x => x.Name == run.Method).Stages.Count > 1 ? [3, 4] : [2, 4];
                Assert.Equal(expected, run.Validation.Select(v => v.Step));
                Assert.Equal(run.Validation.Max(v => v.Average), run.Validation.Single(v => v.Step == run.SelectedStep).Average);
                // Only the chosen checkpoint's weights stay; the final model is the run folder itself.
                var kept = Directory.GetDirectories(run.ModelDirectory, "checkpoint-*").Select(Path.GetFileName).ToList();
                Assert.Equal(run.SelectedStep == 4 ? 0 : 1, kept.Count);
            }
            Assert.Equal(Tiny.FineTune.ReasoningPrompts + Tiny.FineTune.FactPrompts
                + TaskSuite.Items(TaskKind.MultipleChoice, TaskSplit.Train, int.MaxValue, 1).Count, result.Data.Single().Pairs);
            Assert.Contains(stages, s => s.StartsWith("pretraining", StringComparison.Ordinal));
            Assert.Contains(stages, s => s.StartsWith("SFT→DPO seed 1 lr 0.0003 (dpo", StringComparison.Ordinal));
            Assert.Contains(stages, s => s.StartsWith("validating KTO seed 1 lr 0.001 at step 2", StringComparison.Ordinal));

            // Every training stage trained its share of the steps: SFT→DPO's two stages add up to the same budget.
            var sequential = Directory.GetDirectories(Path.Combine(dir, "seed-1"), "sft2_dpo2-*");
            Assert.Equal(2, sequential.Length); // one per learning rate
            Assert.All(sequential, d => Assert.Equal(2, File.ReadAllLines(Path.Combine(d, "metrics.jsonl")).Length));

            CompareReport.Write(result, dir);
            var md = File.ReadAllText(Path.Combine(dir, "results.md"));
            foreach (var name in names.Append("Base")) Assert.Contains($"| {name} |", md);
            Assert.Contains("| DPO − SFT |", md);
            Assert.Contains("| SFT→DPO − SFT |", md);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            Assert.Equal(names.Count + 1, json.RootElement.GetProperty("summary").GetArrayLength()); // the recipes and the base
            Assert.Equal(names.Count + 1, json.RootElement.GetProperty("summary_per_method_lr_chosen_checkpoint").GetArrayLength());
            Assert.True(new FileInfo(Path.Combine(dir, "compare.png")).Length > 1000);
            Assert.True(new FileInfo(Path.Combine(dir, "sensitivity.png")).Length > 1000);
            Assert.Empty(Directory.GetDirectories(dir, ".*", SearchOption.AllDirectories)); // no temporary stage folder left

            var log = new List<string>();
            var stamp = Directory.GetLastWriteTimeUtc(sequential[0]);
            var again = new ComparePipeline(Tiny, dir, log: log.Add).Run();
            Assert.Equal(result.Runs.Select(r => (r.Scores, r.SelectedStep, r.Selected.Scores)),
                again.Runs.Select(r => (r.Scores, r.SelectedStep, r.Selected.Scores)));
            Assert.Equal(stamp, Directory.GetLastWriteTimeUtc(sequential[0]));
            Assert.Contains(log, l => l.Contains("reusing", StringComparison.Ordinal));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void LaterSeedsTrainOnlyTheSharedRateAndTheRateTheTuningSeedChose()
    {
        var dir = Directory.CreateTempSubdirectory("iftsharp-compare-tune").FullName;
        try
        {
            // Seed 1, the tuning seed, trains both rates of the grid (the shared one, 3e-4, and 1e-3). Its validation scores
            // are then replaced by known ones, so the rule's choice is known: IFT is best at 1e-3, SFT ties (the smaller
            // rate, 3e-4). Only the chosen checkpoint of a curve keeps its weights, so it stays the curve's best.
            // (Two cheap recipes keep the test short; the rates filter whole recipes, a sequential one's stages alike.)
            var tuning = Tiny with { Seeds = 1, Recipes = ["SFT", "IFT"] };
            var first = new ComparePipeline(tuning, dir).Run();
            Assert.Equal(4, first.Runs.Count);
            foreach (var run in first.Runs)
            {
                double v = run.Method == "IFT" && run.LearningRate == 1e-3 ? 0.9 : 0.5;
                var curve = run.Validation.Select(x => x.Step == run.SelectedStep
                    ? x with { Reasoning = v, FactFollowing = v, MultipleChoice = v }
                    : x with { Reasoning = 0, FactFollowing = 0, MultipleChoice = 0 }).ToList();
                var file = Assert.Single(Directory.GetFiles(run.ModelDirectory, "validation-*.json"));
                File.WriteAllText(file, JsonSerializer.Serialize(curve));
            }

            var progress = new List<CompareProgress>();
            var settings = tuning with { Seeds = 2 };
            Assert.Equal(1, settings.FineTune.TuningSeeds); // the default
            var log = new List<string>();
            var result = new ComparePipeline(settings, dir, progress.Add, log.Add).Run();
            Assert.Contains("learning rates chosen on the tuning seed 1: SFT 0.0003, IFT 0.001", log);

            var chosen = CompareReport.ChosenLearningRates(result);
            Assert.Equal(new Dictionary<string, double> { ["SFT"] = 3e-4, ["IFT"] = 1e-3 }, chosen);
            Assert.Equal([("SFT", 3e-4), ("IFT", 3e-4), ("IFT", 1e-3)],
                result.Runs.Where(r => r.Seed == 2).Select(r => (r.Method, r.LearningRate)));
            // Seed 2's run folders: SFT once (its chosen rate is the shared one), IFT at both rates.
            List<string> Stages(string seed) => Directory.GetDirectories(Path.Combine(dir, seed)).Select(d => Path.GetFileName(d)!)
                .Where(n => !n.StartsWith("data-", StringComparison.Ordinal)).Select(n => n[..n.LastIndexOf('-')]).Order().ToList();
            Assert.Equal(["ift4", "ift4", "sft4"], Stages("seed-2"));
            Assert.Equal(["ift4", "ift4", "sft4", "sft4"], Stages("seed-1")); // the whole grid
            // The progress total: 6 pretraining steps + 20 (base evaluation) + 2 seeds × 20 (sampling) + runs × (4 steps
            // + 2 checkpoints × 8 + 2 evaluations × 20); before the rates are chosen seed 2 counts 2 runs per recipe (8 runs),
            // after it they are the 7 trained.
            Assert.Equal(66 + 8 * 60, progress[0].Total);
            Assert.Equal(66 + 7 * 60, progress[^1].Total);
            Assert.Equal(progress[^1].Total, progress[^1].Done);
            Assert.True(progress.Zip(progress.Skip(1)).All(p => p.Second.Total <= p.First.Total), "the total only shrinks");

            // The tables average over both seeds; the sensitivity table over seed 1 only (seed 2's scores are the models' own).
            Assert.All(CompareReport.Summarise(result, tuned: false).Skip(1), r => Assert.Equal(2, r.Seeds));
            var tuned = CompareReport.Summarise(result, tuned: true, CompareReport.Pick.Selected).Skip(1).ToList();
            Assert.All(tuned, r => Assert.Equal(2, r.Seeds));
            Assert.Equal(chosen, tuned.ToDictionary(r => r.Method, r => r.LearningRate));
            CompareReport.Write(result, dir);
            var md = File.ReadAllText(Path.Combine(dir, "results.md"));
            Assert.Contains("| IFT | 50.0 | 90.0 | 1e-3 |", md);
            Assert.Contains("| SFT | 50.0 | 50.0 | 3e-4 |", md);
            Assert.Contains("Over the tuning seed 1 only", md);
            Assert.Contains("Learning rates are tuned on the first seed of 2:", md);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            Assert.Equal(1, json.RootElement.GetProperty("tuning_seeds").GetInt32());
            Assert.Equal(1e-3, json.RootElement.GetProperty("chosen_learning_rates").GetProperty("IFT").GetDouble());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(0)]
    public void TuningSeedsMustBeOneToTheNumberOfSeeds(int tuningSeeds)
    {
        var settings = Tiny with { Seeds = 2, FineTune = Tiny.FineTune with { TuningSeeds = tuningSeeds } };
        var e = Assert.Throws<IftSharp.Core.InputException>(() => new ComparePipeline(settings, Path.GetTempPath()).Run());
        Assert.Equal($"--tuning-seeds: expected 1 to 2 (the number of seeds), got {tuningSeeds}", e.Message);
    }

    [Fact]
    public void EveryRecipeIsARegisteredMethodWithValidSettingsAndTheAblationsChangeOneIngredientOfIft()
    {
        var names = CompareRecipe.All.Select(r => r.Name).ToList();
        foreach (var expected in new[] { "SFT", "IFT", "DPO", "ORPO", "EXO", "SimPO", "KTO", "SPIN", "SFT→DPO", "SFT→IFT" })
            Assert.Contains(expected, names);
        foreach (var stage in CompareRecipe.All.SelectMany(r => r.Stages)) // Options throws on a bad setting
            IftSharp.Methods.MethodRegistry.Options(IftSharp.Methods.MethodRegistry.Get(stage.Method), stage.Settings);
        var ablations = CompareRecipe.All.Where(r => r.IsAblation).ToList();
        Assert.Equal(4, ablations.Count);
        Assert.All(ablations, r => Assert.Equal("ift", Assert.Single(r.Stages).Method));
        Assert.All(ablations, r => Assert.Single(r.Stages[0].Settings!));
        var e = Assert.Throws<IftSharp.Core.InputException>(() => CompareRecipe.Select(["SFT", "NOPE"]));
        Assert.Contains("'NOPE' is not a recipe", e.Message);
    }

    [Fact]
    public void TheSharedLearningRateMustBeInTheGrid()
    {
        var settings = Tiny with { FineTune = Tiny.FineTune with { LearningRate = 5e-4 } };
        var e = Assert.Throws<IftSharp.Core.InputException>(() => new ComparePipeline(settings, Path.GetTempPath()).Run());
        Assert.Contains("not in the grid", e.Message);
    }

    [Fact]
    public void SequentialRecipesSplitTheSameStepBudget()
    {
        foreach (var recipe in CompareRecipe.All)
        {
            Assert.Equal(160, recipe.StageSteps(160).Sum());
            Assert.Equal(7, recipe.StageSteps(7).Sum());
        }
        Assert.Equal([4, 3], CompareRecipe.All.Single(r => r.Name == "SFT→DPO").StageSteps(7));
    }
}

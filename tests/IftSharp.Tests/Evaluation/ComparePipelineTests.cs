using System.Text.Json;
using IftSharp.Evaluation;
using Xunit;

namespace IftSharp.Tests.Evaluation;

/// <summary>
/// The comparison end to end: the quick preset, shrunk further so it runs in seconds, goes through every stage
/// (pretraining, sampling rejected answers, every recipe, evaluation, report), and a second run reuses every stage.
/// </summary>
public class ComparePipelineTests
{
    private static CompareSettings Tiny => CompareSettings.Quick with
    {
        Base = CompareSettings.Quick.Base with { HiddenSize = 32, IntermediateSize = 64, Layers = 1, AttentionHeads = 2, KeyValueHeads = 1, Documents = 200, Steps = 6, BatchSize = 4, MaxLength = 256 },
        FineTune = CompareSettings.Quick.FineTune with { ReasoningPrompts = 6, FactPrompts = 6, Steps = 4, BatchSize = 2, MaxNewTokens = 24 },
        Eval = CompareSettings.Quick.Eval with { ReasoningItems = 4, FactItems = 4, MultipleChoiceItems = 4, HeldOutTexts = 4, MaxNewTokens = 24 },
    };

    [Fact]
    public void TheWholePathRunsWritesTheReportAndAResumedRunReusesEveryStage()
    {
        var dir = Directory.CreateTempSubdirectory("iftsharp-compare").FullName;
        try
        {
            var stages = new List<string>();
            var result = new ComparePipeline(Tiny, dir, p => stages.Add(p.Stage)).Run();
            Assert.Equal(CompareRecipe.All.Select(r => r.Name), result.Runs.Select(r => r.Method));
            Assert.All(result.Runs, r => Assert.InRange(r.Scores.Average, 0, 1));
            Assert.All(result.Runs, r => Assert.True(r.Scores.Perplexity > 1));
            Assert.Equal(Tiny.FineTune.ReasoningPrompts + Tiny.FineTune.FactPrompts + TaskSuite.Items(TaskKind.MultipleChoice, TaskSplit.Train, int.MaxValue, 1).Count,
                result.Data.Single().Pairs);
            Assert.Contains(stages, s => s.StartsWith("pretraining", StringComparison.Ordinal));
            Assert.Contains(stages, s => s.StartsWith("SFT→IFT seed 1 (ift", StringComparison.Ordinal));

            // Every training stage trained its share of the steps: SFT→DPO's two stages add up to the same budget.
            var sequential = Directory.GetDirectories(Path.Combine(dir, "seed-1"), "sft2_dpo2-*").Single();
            Assert.Equal(2, File.ReadAllLines(Path.Combine(sequential, "metrics.jsonl")).Length);

            CompareReport.Write(result, dir);
            var md = File.ReadAllText(Path.Combine(dir, "results.md"));
            foreach (var name in CompareRecipe.All.Select(r => r.Name).Append("Base")) Assert.Contains($"| {name} |", md);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            Assert.Equal(CompareRecipe.All.Count + 1, json.RootElement.GetProperty("summary").GetArrayLength()); // the recipes and the base
            Assert.True(new FileInfo(Path.Combine(dir, "compare.png")).Length > 1000);
            Assert.Empty(Directory.GetDirectories(dir, ".*", SearchOption.AllDirectories)); // no temporary stage folder left

            var log = new List<string>();
            var stamp = Directory.GetLastWriteTimeUtc(sequential);
            var again = new ComparePipeline(Tiny, dir, log: log.Add).Run();
            Assert.Equal(result.Runs.Select(r => r.Scores), again.Runs.Select(r => r.Scores));
            Assert.Equal(stamp, Directory.GetLastWriteTimeUtc(sequential));
            Assert.Contains(log, l => l.Contains("reusing", StringComparison.Ordinal));
        }
        finally { Directory.Delete(dir, recursive: true); }
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

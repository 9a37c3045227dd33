using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using IftSharp.Training;
using Xunit;

namespace IftSharp.Tests.Training;

public class RewardGroupTrainingTests
{
    private static string Write(params string[] lines) => TempJsonl.Write(lines);

    [Fact]
    public void ExoRewardFormLearnsToPreferTheRewardedCompletions()
    {
        var path = Write(
            "{\"prompt\": \"1+1?\", \"completions\": [\"2\", \"3\", \"11\"], \"rewards\": [1.0, 0.0, 0.2]}",
            "{\"prompt\": \"2+2?\", \"completions\": [\"4\", \"5\", \"22\"], \"rewards\": [1.0, 0.0, 0.2]}");
        try
        {
            var groups = RewardDataset.Read(path, new ByteLevelTokenizer(), new ChatMlTemplate(), 64);
            Assert.Equal(3, groups[0].Completions.Count);
            using var model = TinyLlama.Create();
            using var reference = TinyLlama.Create();
            var history = Runs.Train("exo-rw", model, groups, TinyLlama.PadId,
                new TrainerOptions { MaxSteps = 15, BatchSize = 2, LearningRate = 1e-2, WarmupRatio = 0 }, reference: reference);
            Assert.True(history[^1].Loss < history[0].Loss);
            Assert.Equal(1.0, history[^1].Objective["rewards/accuracies"]);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("{\"prompt\": \"x\", \"completions\": [\"a\", \"b\"], \"rewards\": [1]}", "field 'rewards': 1 rewards for 2 completions")]
    [InlineData("{\"prompt\": \"x\", \"completions\": [\"a\"], \"rewards\": [1]}", "field 'completions': expected at least 2")]
    [InlineData("{\"prompt\": \"x\", \"completions\": [\"a\", \"b\"], \"rewards\": [1, \"high\"]}",
        "field 'rewards': expected a list of numbers")]
    public void BadGroupsNameTheField(string line, string expected)
    {
        var path = Write(line);
        try
        {
            var e = Assert.Throws<InputException>(() => RewardDataset.Read(path, new ByteLevelTokenizer(), new ChatMlTemplate(), 64));
            Assert.Contains(":1: " + expected, e.Message);
        }
        finally { File.Delete(path); }
    }
}

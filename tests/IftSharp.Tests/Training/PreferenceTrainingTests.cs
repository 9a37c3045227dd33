using IftSharp.Data;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using IftSharp.Training;
using Xunit;

namespace IftSharp.Tests.Training;

public class PreferenceTrainingTests
{
    private static LlamaForCausalLM Model() => TinyLlama.Create();

    private static List<PreferenceExample> Pairs()
    {
        var tokenizer = new ByteLevelTokenizer();
        var template = new ChatMlTemplate();
        return new[] { ("1+1?", "2", "3"), ("2+2?", "4", "5"), ("3+3?", "6", "7"), ("4+4?", "8", "9") }
            .Select(x => new PreferenceExample(
                ConversationDataset.Tokenize(
                    [new ChatMessage("user", x.Item1), new ChatMessage("assistant", x.Item2)], tokenizer, template, 64),
                ConversationDataset.Tokenize(
                    [new ChatMessage("user", x.Item1), new ChatMessage("assistant", x.Item3)], tokenizer, template, 64)))
            .ToList();
    }

    [Theory]
    [InlineData("dpo")]
    [InlineData("ipo")]
    [InlineData("orpo")]
    [InlineData("simpo")]
    [InlineData("exo")]
    public void EveryPreferenceMethodWidensTheMargin(string method)
    {
        using var model = Model();
        using var reference = Model();
        var history = Runs.Train(method, model, Pairs(), 256,
            new TrainerOptions { MaxSteps = 15, BatchSize = 4, LearningRate = 1e-2, WarmupRatio = 0 },
            reference: MethodRegistry.Get(method).NeedsReference ? reference : null);
        Assert.True(history[^1].Objective["rewards/margins"] > history[0].Objective["rewards/margins"], method);
        Assert.True(history[^1].Loss < history[0].Loss, method);
    }

    [Fact]
    public void PrecomputedReferenceLogProbsGiveTheSameRun()
    {
        var options = new TrainerOptions { MaxSteps = 4, BatchSize = 2, LearningRate = 1e-2 };
        using var a = Model(); using var ra = Model();
        using var b = Model(); using var rb = Model();
        var live = Runs.Train("dpo", a, Pairs(), 256, options, reference: ra).Select(m => m.Loss).ToList();
        var pre = Runs.Train("dpo", b, Pairs(), 256, options, reference: rb, precomputeReference: true).Select(m => m.Loss).ToList();
        for (int i = 0; i < live.Count; i++) Assert.Equal(live[i], pre[i], 5);
    }
}

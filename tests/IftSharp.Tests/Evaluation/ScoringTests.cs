using IftSharp.Data;
using IftSharp.Evaluation;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Evaluation;

/// <summary>The scoring functions: answer extraction, exact match, log-likelihood choice, perplexity.</summary>
public class ScoringTests
{
    [Theory]
    [InlineData("3 + 4 = 7.\nAnswer: 7", "7")]
    [InlineData("Answer: 7.", "7")]
    [InlineData("Answer:   blue  \nmore", "blue")]
    [InlineData("Answer: 7\nAnswer: 9", "7")] // the first answer counts, as GSM8K's strict match
    [InlineData("no answer line", null)]
    [InlineData("Answer: \n", null)]
    public void TheFinalAnswerIsTheFirstAnswerLine(string text, string? expected) => Assert.Equal(expected, TaskAnswers.Final(text));

    [Fact]
    public void ExactMatchComparesTheWholeAnswer()
    {
        var item = new TaskExample(TaskKind.Reasoning, "k", "p", "s\nAnswer: 12", "12", []);
        Assert.True(TaskAnswers.IsCorrect("x\nAnswer: 12", item));
        Assert.False(TaskAnswers.IsCorrect("x\nAnswer: 123", item));
        Assert.False(TaskAnswers.IsCorrect("x\nAnswer: 1", item));
    }

    [Fact]
    public void AModelWithUniformPredictionsHasThePerplexityOfTheVocabularySize()
    {
        using var model = TinyLlama.Create();
        using (no_grad()) foreach (var p in model.parameters()) p.zero_(); // zero logits: every token equally likely
        var evaluator = new ModelEvaluator(model, new ByteLevelTokenizer(), new ChatMlTemplate(), 128);
        Assert.Equal(new ByteLevelTokenizer().VocabSize, evaluator.Perplexity(["some held-out text", "and more"]), 3);
    }

    [Fact]
    public void BatchedSequenceLikelihoodsEqualEachRowScoredAloneAndMultipleChoicePicksTheHighest()
    {
        using var model = TinyLlama.Create();
        var tokenizer = new ByteLevelTokenizer();
        var template = new ChatMlTemplate();
        var evaluator = new ModelEvaluator(model, tokenizer, template, 128);
        var item = new TaskExample(TaskKind.MultipleChoice, "q", "Question: What is the capital of Bovaria?", "Answer: Tarsk", "Tarsk",
            ["Tarsk", "Lomez", "Ki", "Dovanterpl"]);
        var rows = item.Options
            .Select(o => ConversationDataset.Tokenize(
                [new ChatMessage("user", item.Prompt), new ChatMessage("assistant", MultipleChoiceTask.Completion(o))],
                tokenizer, template, 128))
            .ToList();
        var batched = evaluator.SequenceLogLikelihoods(rows);
        for (int i = 0; i < rows.Count; i++)
        {
            double alone = Alone(model, rows[i]);
            Assert.Equal(alone, batched[i], 4); // right padding changes nothing
        }
        int best = batched.Select((s, i) => (s, i)).MaxBy(x => x.s).i;
        double accuracy = evaluator.MultipleChoice([item]);
        Assert.Equal(item.Options[best] == item.Answer ? 1.0 : 0.0, accuracy);
        // The same item with the options relabelled so the model's favourite is the answer scores 1.
        var favourite = item with { Answer = item.Options[best] };
        Assert.Equal(1.0, evaluator.MultipleChoice([favourite]));
    }

    /// <summary>Summed log-probability of the labelled tokens, computed row by row with an explicit log-softmax.</summary>
    private static double Alone(LlamaForCausalLM model, TrainingExample row)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = model.Forward(tensor(row.InputIds.Select(i => (long)i).ToArray()).unsqueeze(0)).to(float64);
        var logSoftmax = nn.functional.log_softmax(logits[0], -1);
        double total = 0;
        for (int t = 1; t < row.Length; t++)
            if (row.Labels[t] != TokenLogProbs.IgnoreIndex) total += logSoftmax[t - 1, row.Labels[t]].item<double>();
        return total;
    }
}

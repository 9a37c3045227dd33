using IftSharp.Data;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Data;

/// <summary>K-completion reward rows are tokenised as preference sides are: TRL's DPO rule for each completion.</summary>
public class RewardDatasetTests
{
    [Fact]
    public void EachCompletionIsWhatFollowsThePromptRenderedWithTheGenerationPrompt()
    {
        var path = TempJsonl.Write(
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"1+1?\"}], " +
            "\"completions\": [\"2\", [{\"role\": \"assistant\", \"content\": \"3\"}]], \"rewards\": [1, 0]}",
            "{\"prompt\": \"1+1=\", \"completions\": [\"2\", \"3\"], \"rewards\": [1, 0]}");
        try
        {
            var tokenizer = new ByteLevelTokenizer();
            var groups = RewardDataset.Read(path, tokenizer, new ChatMlTemplate(), 128);
            string Labelled(TrainingExample e) => tokenizer.Decode(e.InputIds.Where((_, i) => e.Labels[i] != -100));
            Assert.Equal(["2<|im_end|>\n", "3<|im_end|>\n"], groups[0].Completions.Select(Labelled));
            var side = ConversationDataset.TokenizePromptCompletion(TextOrMessages.FromMessages([new ChatMessage("user", "1+1?")]),
                "2", tokenizer, new ChatMlTemplate(), new DatasetReadOptions(128), new RowContext(path, 1), PromptJoin.PromptIdsThenRest);
            Assert.Equal(side.InputIds, groups[0].Completions[0].InputIds);
            Assert.Equal(side.Labels, groups[0].Completions[0].Labels);
            // strings: TRL's standard form, no template, EOS after each completion
            Assert.Equal("1+1=2<|im_end|>", tokenizer.Decode(groups[1].Completions[0].InputIds));
            Assert.Equal(["2<|im_end|>", "3<|im_end|>"], groups[1].Completions.Select(Labelled));
        }
        finally { File.Delete(path); }
    }
}

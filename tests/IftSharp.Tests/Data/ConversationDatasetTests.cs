using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Data;

public class ConversationDatasetTests
{
    private static string Write(params string[] lines) => TempJsonl.Write(lines);

    private const string Good = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}]}";

    [Theory]
    [InlineData("{\"messages\": [", ":2: malformed JSON")]
    [InlineData("{\"text\": \"x\"}", ":2: field 'messages': missing")]
    [InlineData("{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", ":2: field 'messages[0].role': 'robot'")]
    [InlineData("{\"messages\": [{\"role\": \"user\"}]}", ":2: field 'messages[0].content': missing")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"\"}]}", ":2: field 'messages[1].content': empty assistant message")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", ":2: field 'messages': no assistant message")]
    public void BadLinesNameFileLineAndField(string badLine, string expected)
    {
        var path = Write(Good, badLine);
        try
        {
            var e = Assert.Throws<InputException>(() => ConversationDataset.ReadConversations(path));
            Assert.Contains(path + expected, e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LabelsCoverExactlyTheAssistantTokensAndTheirEndOfTurn()
    {
        var tokenizer = new ByteLevelTokenizer();
        var example = ConversationDataset.Tokenize([new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Yo")], tokenizer, new ChatMlTemplate(), 512);
        // "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n": labelled = 'Y', 'o', <|im_end|>.
        var labelled = example.Labels.Select((l, i) => (l, i)).Where(x => x.l != -100).Select(x => example.InputIds[x.i]).ToArray();
        Assert.Equal(new[] { (int)'Y', (int)'o', tokenizer.TokenToId("<|im_end|>")!.Value }, labelled);
        Assert.Equal(example.InputIds.Length, example.Labels.Length);
    }

    [Fact]
    public void PromptCompletionAndMessagesShapesGiveTheSameExampleAndTextLearnsEverything()
    {
        var tokenizer = new ByteLevelTokenizer();
        var path = Write(Good,
            "{\"prompt\": \"Hi\", \"completion\": \"Yo\"}",
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"completion\": [{\"role\": \"assistant\", \"content\": \"Yo\"}]}",
            "{\"text\": \"abc\"}");
        try
        {
            var examples = ConversationDataset.ReadExamples(path, tokenizer, new ChatMlTemplate(), 512);
            Assert.Equal(4, examples.Count);
            // prompt/completion as message lists is the conversation; as strings it is TRL's standard form (no template, EOS appended).
            Assert.Equal(examples[0].InputIds, examples[2].InputIds);
            Assert.Equal(examples[0].Labels, examples[2].Labels);
            Assert.Equal("HiYo<|im_end|>", tokenizer.Decode(examples[1].InputIds));
            Assert.Equal("Yo<|im_end|>", tokenizer.Decode(examples[1].InputIds.Where((_, i) => examples[1].Labels[i] != -100)));
            // Language modeling: the text and EOS, every token labelled.
            Assert.Equal(new[] { 'a', 'b', 'c' }.Select(c => (int)c).Append(tokenizer.EosTokenId!.Value), examples[3].InputIds);
            Assert.Equal(examples[3].InputIds.Select(i => (long)i), examples[3].Labels);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TruncationCutsThePromptOnTheLeftThenTheSequenceOnTheRight()
    {
        var tokenizer = new ByteLevelTokenizer();
        var conversation = new List<ChatMessage> { new("user", "0123456789"), new("assistant", "abcdef") };
        var full = ConversationDataset.Tokenize(conversation, tokenizer, new ChatMlTemplate(), 512);
        int prompt = Array.FindIndex(full.Labels, l => l != -100);
        var cut = ConversationDataset.Tokenize(conversation, tokenizer, new ChatMlTemplate(), maxLength: 8, maxPromptLength: 5);
        // The last 5 prompt tokens ("\n<|im_start|>assistant\n" ends the prompt), then the sequence cut to 8: 3 completion tokens.
        Assert.Equal(full.InputIds.Skip(prompt - 5).Take(8), cut.InputIds);
        Assert.Equal(full.Labels.Skip(prompt - 5).Take(8), cut.Labels);
        Assert.Equal("abc", tokenizer.Decode(cut.InputIds.Where((_, i) => cut.Labels[i] != -100)));
        var plain = ConversationDataset.TokenizePlain("0123456789", "xyz", tokenizer, maxLength: 100, "d.jsonl", 1, maxPromptLength: 4);
        Assert.Equal("6789xyz<|im_end|>", tokenizer.Decode(plain.InputIds));
    }

    [Fact]
    public void APromptThatFillsMaxLengthIsAnError()
    {
        var e = Assert.Throws<InputException>(() => ConversationDataset.Tokenize(
            [new ChatMessage("user", new string('x', 100)), new ChatMessage("assistant", "y")], new ByteLevelTokenizer(), new ChatMlTemplate(), 64, source: "d.jsonl", line: 7));
        Assert.Contains("d.jsonl:7", e.Message);
        Assert.Contains("max_length", e.Message);
    }
}

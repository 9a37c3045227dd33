using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Data;

public class PreferenceDatasetTests
{
    private static string Write(params string[] lines) => TempJsonl.Write(lines);

    private static string Labelled(TrainingExample e) =>
        new ByteLevelTokenizer().Decode(e.InputIds.Where((_, i) => e.Labels[i] != -100));

    [Fact]
    public void PlainConversationalAndImplicitPromptFormsAgree()
    {
        var path = Write(
            "{\"prompt\": \"2+2?\", \"chosen\": \"4\", \"rejected\": \"5\"}",
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"2+2?\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"4\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"5\"}]}",
            "{\"chosen\": [{\"role\": \"user\", \"content\": \"2+2?\"}, {\"role\": \"assistant\", \"content\": \"4\"}], \"rejected\": [{\"role\": \"user\", \"content\": \"2+2?\"}, {\"role\": \"assistant\", \"content\": \"5\"}]}");
        try
        {
            var tokenizer = new ByteLevelTokenizer();
            var pairs = PreferenceDataset.Read(path, tokenizer, new ChatMlTemplate(), 128);
            Assert.Equal(3, pairs.Count);
            // Strings are TRL's standard form: no chat template, prompt + completion + EOS, only the completion labelled.
            Assert.Equal("2+2?4<|im_end|>", tokenizer.Decode(pairs[0].Chosen.InputIds));
            // Message lists and the implicit prompt render through the template and agree with each other.
            Assert.StartsWith("<|im_start|>user\n2+2?<|im_end|>", tokenizer.Decode(pairs[1].Chosen.InputIds));
            Assert.Equal(pairs[1].Chosen.InputIds, pairs[2].Chosen.InputIds);
            Assert.Equal(pairs[1].Rejected.Labels, pairs[2].Rejected.Labels);
            foreach (var p in pairs)
            {
                Assert.Equal("4<|im_end|>", Labelled(p.Chosen));
                Assert.Equal("5<|im_end|>", Labelled(p.Rejected));
            }
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void EarlierAssistantTurnsOfThePromptStayUnlabelled()
    {
        var path = Write("{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}, {\"role\": \"user\", \"content\": \"bye?\"}], \"chosen\": \"bye\", \"rejected\": \"no\"}");
        try
        {
            var pair = PreferenceDataset.Read(path, new ByteLevelTokenizer(), new ChatMlTemplate(), 256)[0];
            Assert.Equal("bye<|im_end|>", Labelled(pair.Chosen));
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("{\"prompt\": \"x\", \"chosen\": \"a\"}", ":1: field 'rejected': missing")]
    [InlineData("{\"prompt\": \"x\", \"chosen\": 3, \"rejected\": \"b\"}", ":1: field 'chosen': expected a string or a list")]
    [InlineData("{\"prompt\": \"x\", \"chosen\": \"\", \"rejected\": \"b\"}", ":1: field 'chosen': expected a non-empty assistant completion")]
    [InlineData("{\"chosen\": [{\"role\": \"assistant\", \"content\": \"a\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"b\"}]}", ":1: field 'prompt': missing")]
    [InlineData("{\"prompt\": [{\"role\": \"bot\", \"content\": \"x\"}], \"chosen\": \"a\", \"rejected\": \"b\"}", ":1: field 'prompt[0].role'")]
    public void BadRowsNameTheField(string line, string expected)
    {
        var path = Write(line);
        try
        {
            var e = Assert.Throws<InputException>(() => PreferenceDataset.Read(path, new ByteLevelTokenizer(), new ChatMlTemplate(), 128));
            Assert.Contains(path + expected, e.Message);
        }
        finally { File.Delete(path); }
    }
}

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
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"2+2?\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"4\"}], "
                + "\"rejected\": [{\"role\": \"assistant\", \"content\": \"5\"}]}",
            "{\"chosen\": [{\"role\": \"user\", \"content\": \"2+2?\"}, {\"role\": \"assistant\", \"content\": \"4\"}], "
                + "\"rejected\": [{\"role\": \"user\", \"content\": \"2+2?\"}, {\"role\": \"assistant\", \"content\": \"5\"}]}");
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
            // TRL's DPO rule: what follows the prompt rendered with the generation prompt, so also the template's newline
            Assert.Equal("4<|im_end|>", Labelled(pairs[0].Chosen));
            Assert.Equal("5<|im_end|>", Labelled(pairs[0].Rejected));
            foreach (var p in pairs.Skip(1))
            {
                Assert.Equal("4<|im_end|>\n", Labelled(p.Chosen));
                Assert.Equal("5<|im_end|>\n", Labelled(p.Rejected));
            }
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void EarlierAssistantTurnsOfThePromptStayUnlabelled()
    {
        var path = Write("{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}, "
            + "{\"role\": \"user\", \"content\": \"bye?\"}], \"chosen\": \"bye\", \"rejected\": \"no\"}");
        try
        {
            var pair = PreferenceDataset.Read(path, new ByteLevelTokenizer(), new ChatMlTemplate(), 256)[0];
            Assert.Equal("bye<|im_end|>\n", Labelled(pair.Chosen));
        }
        finally { File.Delete(path); }
    }

    /// <summary>Issue 15: a pair whose sides are identical trains with zero gradient; it is counted and reported once.</summary>
    [Fact]
    public void IdenticalChosenAndRejectedAreCountedAndReported()
    {
        var path = Write(
            "{\"prompt\": \"2+2?\", \"chosen\": \"4\", \"rejected\": \"4\"}",
            "{\"prompt\": \"2+2?\", \"chosen\": \"4\", \"rejected\": \"5\"}",
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"3+3?\"}], \"chosen\": \"6\", \"rejected\": [{\"role\": \"assistant\", " +
                "\"content\": \"6\"}]}",
            // equal only after truncation to max_length
            "{\"prompt\": \"1+1?\", \"chosen\": \"2 because one and one\", \"rejected\": \"2 because two\"}");
        try
        {
            var warnings = new List<string>();
            var pairs = PreferenceDataset.Read(path, new ByteLevelTokenizer(), new ChatMlTemplate(),
                new DatasetReadOptions(12) { MaxPromptLength = 4, Warn = warnings.Add });
            Assert.Equal(4, pairs.Count);
            var warning = Assert.Single(warnings);
            Assert.Equal($"{path}: 3 rows (lines 1, 3, 4) {DatasetWarnings.IdenticalPair}", warning);
            Assert.Contains("zero gradient", warning);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("{\"prompt\": \"x\", \"chosen\": \"a\"}", ":1: field 'rejected': missing")]
    [InlineData("{\"prompt\": \"x\", \"chosen\": 3, \"rejected\": \"b\"}", ":1: field 'chosen': expected a string or a list")]
    [InlineData("{\"prompt\": \"x\", \"chosen\": \"\", \"rejected\": \"b\"}", ":1: field 'chosen': empty; expected the completion text")]
    [InlineData("{\"prompt\": [{\"role\": \"user\", \"content\": \"x\"}], \"chosen\": [{\"role\": \"assistant\", \"content\": \"\"}], " +
        "\"rejected\": \"b\"}",
        ":1: field 'chosen[0].content': empty assistant message")]
    [InlineData("{\"chosen\": \"a\", \"rejected\": \"b\"}", ":1: field 'prompt': missing; expected a \"prompt\" field")]
    [InlineData("{\"chosen\": [{\"role\": \"assistant\", \"content\": \"a\"}], "
        + "\"rejected\": [{\"role\": \"assistant\", \"content\": \"b\"}]}", ":1: field 'prompt': missing")]
    [InlineData("{\"prompt\": [{\"role\": \"bot\", \"content\": \"x\"}], \"chosen\": \"a\", \"rejected\": \"b\"}",
        ":1: field 'prompt[0].role'")]
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

using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Data;

/// <summary>KTO's rows in TRL's unpaired shape: prompt, completion, label.</summary>
public class UnpairedDatasetTests
{
    [Fact]
    public void RowsTokeniseAsPreferenceCompletionsDoWithTheirLabels()
    {
        var path = TempJsonl.Write(
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"1+1?\"}], "
                + "\"completion\": [{\"role\": \"assistant\", \"content\": \"2\"}], \"label\": true}",
            "{\"prompt\": \"1+1?\", \"completion\": \"3\", \"label\": false}");
        try
        {
            var rows = UnpairedDataset.Read(path, new ByteLevelTokenizer(), new ChatMlTemplate(), 64);
            Assert.Equal([true, false], rows.Select(r => r.Desirable));
            // A completion is tokenised as a preference side (TRL's KTOTrainer and DPOTrainer build both the same way).
            var pairPath = TempJsonl.Write("{\"prompt\": [{\"role\": \"user\", \"content\": \"1+1?\"}], "
                + "\"chosen\": [{\"role\": \"assistant\", \"content\": \"2\"}], "
                + "\"rejected\": [{\"role\": \"assistant\", \"content\": \"3\"}]}");
            try
            {
                var chosen = PreferenceDataset.Read(pairPath, new ByteLevelTokenizer(), new ChatMlTemplate(), 64)[0].Chosen;
                Assert.Equal(chosen.InputIds, rows[0].Example.InputIds);
                Assert.Equal(chosen.Labels, rows[0].Example.Labels);
            }
            finally { File.Delete(pairPath); }
            // The plain row: prompt bytes, then "3" and EOS labelled.
            Assert.Equal("1+1?".Length, rows[1].PromptLength);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("{\"prompt\": \"x\", \"completion\": \"y\"}", "field 'label': expected true (desirable) or false")]
    [InlineData("{\"prompt\": \"x\", \"completion\": \"y\", \"label\": \"yes\"}", "field 'label': expected true (desirable) or false")]
    [InlineData("{\"completion\": \"y\", \"label\": true}", "field 'prompt': missing")]
    [InlineData("{\"prompt\": \"x\", \"completion\": \"\", \"label\": true}", "field 'completion': empty")]
    public void BadRowsNameTheField(string line, string expected)
    {
        var path = TempJsonl.Write(line);
        try
        {
            var e = Assert.Throws<InputException>(() => UnpairedDataset.Read(path, new ByteLevelTokenizer(), new ChatMlTemplate(), 64));
            Assert.Contains(":1: " + expected, e.Message);
        }
        finally { File.Delete(path); }
    }
}

using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Tokenization;
using Parquet.Serialization;
using Xunit;

namespace IftSharp.Tests.Data;

/// <summary>Parquet files (written here with Parquet.Net's serializer, as a user's export would be) read like their JSONL twins.</summary>
public class ParquetDatasetTests
{
    public sealed class Message { public string role { get; set; } = ""; public string content { get; set; } = ""; }
    public sealed class ConversationRow { public List<Message> messages { get; set; } = []; }
    public sealed class PreferenceRow
    {
        public string prompt { get; set; } = "";
        public string chosen { get; set; } = "";
        public string rejected { get; set; } = "";
    }

    private static string Temp(string extension) =>
        Path.Combine(Path.GetTempPath(), "iftsharp-pq-" + Guid.NewGuid().ToString("N") + extension);

    [Fact]
    public async Task ConversationalParquetEqualsTheJsonl()
    {
        var parquet = Temp(".parquet");
        var jsonl = Temp(".jsonl");
        try
        {
            var rows = new List<ConversationRow>
            {
                new() { messages = [new() { role = "user", content = "Hi" }, new() { role = "assistant", content = "Yo" }] },
                new()
                {
                    messages =
                    [
                        new() { role = "system", content = "Be brief." }, new() { role = "user", content = "2+2?" },
                        new() { role = "assistant", content = "4" },
                    ],
                },
            };
            await ParquetSerializer.SerializeAsync(rows, parquet);
            File.WriteAllLines(jsonl, [
                "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}]}",
                "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"2+2?\"}, "
                    + "{\"role\": \"assistant\", \"content\": \"4\"}]}"]);
            var fromParquet = ConversationDataset.ReadExamples(parquet, new ByteLevelTokenizer(), new ChatMlTemplate(), 256);
            var fromJsonl = ConversationDataset.ReadExamples(jsonl, new ByteLevelTokenizer(), new ChatMlTemplate(), 256);
            Assert.Equal(2, fromParquet.Count);
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(fromJsonl[i].InputIds, fromParquet[i].InputIds);
                Assert.Equal(fromJsonl[i].Labels, fromParquet[i].Labels);
            }
        }
        finally { File.Delete(parquet); File.Delete(jsonl); }
    }

    [Fact]
    public async Task PreferenceParquetRowsAndErrorsNameTheRow()
    {
        var parquet = Temp(".parquet");
        try
        {
            var rows = new List<PreferenceRow>
            {
                new() { prompt = "1+1?", chosen = "2", rejected = "3" }, new() { prompt = "x", chosen = "", rejected = "y" },
            };
            await ParquetSerializer.SerializeAsync(rows, parquet);
            var e = Assert.Throws<InputException>(() =>
                PreferenceDataset.Read(parquet, new ByteLevelTokenizer(), new ChatMlTemplate(), 64));
            Assert.Contains(parquet + ":2: field 'chosen'", e.Message);
        }
        finally { File.Delete(parquet); }
    }

    [Fact]
    public void ANonParquetFileIsAClearError()
    {
        var path = Temp(".parquet");
        File.WriteAllText(path, "not parquet");
        try
        {
            var e = Assert.Throws<InputException>(() =>
                ConversationDataset.ReadExamples(path, new ByteLevelTokenizer(), new ChatMlTemplate(), 64));
            Assert.Contains("not a readable Parquet file", e.Message);
        }
        finally { File.Delete(path); }
    }
}

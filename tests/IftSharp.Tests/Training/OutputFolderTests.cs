using IftSharp.Core;
using IftSharp.Tests.Support;
using IftSharp.Training;
using Xunit;

namespace IftSharp.Tests.Training;

/// <summary>What counts as a run's file, and what claiming, clearing and releasing a folder do to it.</summary>
public class OutputFolderTests
{
    [Fact]
    public void ARunsFilesAreKnownAndOthersAreNot()
    {
        var dir = Temp.Directory("run-files");
        try
        {
            string[] run =
            [
                "checkpoint-3", ".checkpoint-4.tmp", "metrics.jsonl", "metrics.png", "metrics.tmp.png", "spin-round-2.jsonl", "config.json",
                "model.safetensors", "model.safetensors.tmp", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "metrics.jsonl.tmp",
            ];
            string[] other = ["notes.txt", "data.jsonl", "plots", "checkpoints.md.bak2"];
            foreach (var name in run.Concat(other))
                if (name.Contains("checkpoint-") || name == "plots") Directory.CreateDirectory(Path.Combine(dir, name));
                else File.WriteAllText(Path.Combine(dir, name), "");
            Assert.Equal(run.Order(StringComparer.Ordinal),
                OutputFolder.RunFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));

            var e = Assert.Throws<InputException>(() => OutputFolder.Claim(dir, resume: false, overwrite: false));
            Assert.Contains("already holds a training run (.checkpoint-4.tmp, checkpoint-3, config.json, metrics.jsonl and 11 more)",
                e.Message);
            using (var folder = OutputFolder.Claim(dir, resume: false, overwrite: true)) folder.Clear();
            Assert.Equal(other.Order(StringComparer.Ordinal),
                Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ResumingFromAnEarlierRoundDropsTheLaterRoundsFilesAndTemporaryLeftovers()
    {
        var dir = Temp.Directory("rounds");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "checkpoint-2"));
            File.WriteAllText(Path.Combine(dir, "checkpoint-2", TrainingCheckpoint.StateFile), "{}");
            Directory.CreateDirectory(Path.Combine(dir, ".checkpoint-5.tmp"));
            File.WriteAllText(Path.Combine(dir, "config.json.tmp"), "");
            foreach (var k in new[] { 1, 2, 3 }) File.WriteAllText(Path.Combine(dir, $"spin-round-{k}.jsonl"), "");
            using var folder = OutputFolder.Claim(dir, resume: true, overwrite: false);
            folder.DropRoundsAfter(round: 0); // the checkpoint is in the first round: rounds 2 and 3 are generated again
            Assert.Equal(["checkpoint-2", "spin-round-1.jsonl"],
                Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AFolderTheClaimCreatedGoesAgainWhenNothingWasWritten()
    {
        var dir = Temp.Directory("created");
        try
        {
            var output = Path.Combine(dir, "new");
            using (OutputFolder.Claim(output, resume: false, overwrite: false)) Assert.True(Directory.Exists(output));
            Assert.False(Directory.Exists(output));
            Directory.CreateDirectory(output); // a folder the user made stays, empty or not
            using (OutputFolder.Claim(output, resume: false, overwrite: false)) { }
            Assert.True(Directory.Exists(output));
            Assert.Empty(Directory.GetFileSystemEntries(output));
            var e = Assert.Throws<InputException>(() => OutputFolder.Claim(output, resume: true, overwrite: false));
            Assert.Contains("--resume: no checkpoint-* folder in", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}

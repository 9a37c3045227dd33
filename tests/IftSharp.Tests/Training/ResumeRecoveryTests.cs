using System.Text.Json;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Tests.Support;
using IftSharp.Training;
using Xunit;

namespace IftSharp.Tests.Training;

/// <summary>
/// Resume that always finishes: an unreadable newest checkpoint falls back to the previous good one, a cut-off last
/// line of metrics.jsonl is dropped, a run killed during its final save writes the final model from its last
/// checkpoint, and Ctrl-C in a run's first second leaves a clean folder and exit code 130.
/// </summary>
public class ResumeRecoveryTests
{
    private static TrainingRunOptions Options(string model, string output, int steps = 4, bool resume = false) => new()
    {
        Method = "sft", Model = model, Dataset = CliRun.DemoData, Output = output, MaxLength = 64,
        Trainer = new TrainerOptions { MaxSteps = steps, BatchSize = 2, SaveSteps = 1, Seed = 2, Resume = resume },
    };

    public static IEnumerable<object[]> Damages() =>
    [
        ["an empty trainer_state.json", (Action<string>)(c => File.WriteAllText(Path.Combine(c, TrainingCheckpoint.StateFile), "")),
            "trainer_state.json is empty"],
        ["a cut trainer_state.json", (Action<string>)(c => Cut(Path.Combine(c, TrainingCheckpoint.StateFile), 20)),
            "trainer_state.json is not valid JSON"],
        ["a truncated optimizer.bin", (Action<string>)(c => Cut(Path.Combine(c, TrainingCheckpoint.OptimizerFile), 100)),
            "optimizer.bin has 100 bytes"],
        ["a truncated model.safetensors", (Action<string>)(c => Cut(Path.Combine(c, "model.safetensors"), 4000)),
            "model.safetensors has 4,000 bytes"],
        ["a missing optimizer.bin", (Action<string>)(c => File.Delete(Path.Combine(c, TrainingCheckpoint.OptimizerFile))),
            "optimizer.bin is missing"],
    ];

    [Theory]
    [MemberData(nameof(Damages))]
    public void AnUnreadableNewestCheckpointFallsBackToThePreviousGoodOne(string what, Action<string> damage, string reported)
    {
        var dir = Temp.Directory("fallback");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var straight = TrainingRun.Run(Options(model, Path.Combine(dir, "straight"))).History.Select(m => m.Loss).ToList();

            // A run stopped after step 3 whose checkpoint-3 is then damaged (a crash of the machine, a full disk, a bad copy).
            var output = Path.Combine(dir, "out");
            using var cancel = new CancellationTokenSource();
            var stopAt3 = new TrainingRunCallbacks { Cancel = cancel.Token, OnStep = m => { if (m.Step == 3) cancel.Cancel(); } };
            TrainingRun.Run(Options(model, output), stopAt3);
            damage(Path.Combine(output, "checkpoint-3"));

            var log = new List<string>();
            var rest = TrainingRun.Run(Options(model, output, resume: true), new TrainingRunCallbacks { Log = log.Add });
            Assert.Contains(log, l => l.Contains("checkpoint-3 is unreadable", StringComparison.Ordinal)
                && l.Contains(reported, StringComparison.Ordinal)
                && l.Contains("resuming from " + Path.Combine(output, "checkpoint-2"), StringComparison.Ordinal));
            Assert.Equal([3, 4], rest.History.Select(m => m.Step));
            Assert.True(straight.Skip(2).SequenceEqual(rest.History.Select(m => m.Loss)),
                $"{what}: not the losses of the run that never stopped");
            Assert.Equal([1, 2, 3, 4], Steps(Path.Combine(output, "metrics.jsonl")));
            Assert.Null(TrainingCheckpoint.Problem(Path.Combine(output, "checkpoint-3"), out _)); // written anew
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void WhenNoCheckpointIsReadableTheErrorListsEach()
    {
        var dir = Temp.Directory("unreadable");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var output = Path.Combine(dir, "out");
            TrainingRun.Run(Options(model, output, steps: 2));
            File.WriteAllText(Path.Combine(output, "checkpoint-2", TrainingCheckpoint.StateFile), "");
            Cut(Path.Combine(output, "checkpoint-1", TrainingCheckpoint.OptimizerFile), 10);
            var outcome = CliRun.Run("train", "--method", "sft", "--model", model, "--dataset", CliRun.DemoData, "--output", output,
                "--max-steps", "2", "--batch-size", "2", "--save-steps", "1", "--seed", "2", "--max-length", "64", "--resume");
            outcome.AssertError(2, $"--resume: no readable checkpoint in {output}", "checkpoint-2: trainer_state.json is empty",
                "checkpoint-1: optimizer.bin has 10 bytes", "--overwrite");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AMetricsLineCutShortIsDroppedOnResume()
    {
        var dir = Temp.Directory("metrics");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var output = Path.Combine(dir, "out");
            var straight = TrainingRun.Run(Options(model, output)).History.Select(m => m.Loss).ToList();
            // As a kill after step 4's line was half written and before its checkpoint: checkpoint-3 is the newest.
            Directory.Delete(Path.Combine(output, "checkpoint-4"), true);
            var metrics = Path.Combine(output, "metrics.jsonl");
            var text = File.ReadAllText(metrics);
            File.WriteAllText(metrics, text[..(text.TrimEnd('\n').LastIndexOf('\n') + 12)]);
            var rest = TrainingRun.Run(Options(model, output, resume: true));
            Assert.Equal([4], rest.History.Select(m => m.Step));
            Assert.Equal(straight[3], rest.History[0].Loss);
            Assert.Equal([1, 2, 3, 4], Steps(metrics));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AKillDuringTheFinalSaveIsFinishedByResume()
    {
        var dir = Temp.Directory("final");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var output = Path.Combine(dir, "out");
            TrainingRun.Run(Options(model, output, steps: 2));
            var finalWeights = File.ReadAllBytes(Path.Combine(output, "model.safetensors"));
            // What a kill during the final save leaves: checkpoint-2 complete, the final model's files partly there.
            File.Delete(Path.Combine(output, "model.safetensors"));
            File.Delete(Path.Combine(output, "tokenizer_config.json"));
            File.WriteAllText(Path.Combine(output, "model.safetensors.tmp"), "half");

            var outcome = CliRun.Run("train", "--method", "sft", "--model", model, "--dataset", CliRun.DemoData, "--output", output,
                "--max-steps", "2", "--batch-size", "2", "--save-steps", "1", "--seed", "2", "--max-length", "64", "--resume");
            Assert.Equal(0, outcome.Code);
            outcome.AssertNoStackTrace();
            Assert.Equal(finalWeights, File.ReadAllBytes(Path.Combine(output, "model.safetensors")));
            Assert.True(File.Exists(Path.Combine(output, "tokenizer_config.json")));
            Assert.Empty(CliRun.Leftovers(output));
            using var loaded = LlamaForCausalLM.FromPretrained(output); // a whole model again
            var log = new List<string>();
            var again = TrainingRun.Run(Options(model, output, steps: 2, resume: true), new TrainingRunCallbacks { Log = log.Add });
            Assert.Equal(Path.Combine(output, "checkpoint-2"), again.FinishedFrom);
            Assert.Contains(log, l => l.Contains("is at --max-steps 2", StringComparison.Ordinal)
                && l.Contains("wrote the final model", StringComparison.Ordinal));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task CtrlCInTheFirstSecondLeavesACleanFolderAndExitCode130()
    {
        var dir = Temp.Directory("ctrl-c");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var output = Path.Combine(dir, "out");
            using var process = CliRun.Start("train", "--method", "sft", "--model", model, "--dataset", CliRun.DemoData, "--output", output,
                "--max-steps", "500", "--batch-size", "2");
            var stderr = process.StandardError.ReadToEndAsync();
            // The first line is printed once the data is read, before the model loads: Ctrl-C then.
            var first = process.StandardOutput.ReadLine();
            Assert.NotNull(first);
            CliRun.Interrupt(process);
            var stdout = process.StandardOutput.ReadToEnd();
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(3)));
            Assert.Equal(130, process.ExitCode);
            var errors = await stderr;
            new CliOutcome(process.ExitCode, errors).AssertNoStackTrace();
            Assert.DoesNotContain("error:", errors);
            // Either nothing was trained (the folder this run created is gone) or the step it was in was saved whole.
            if (Directory.Exists(output))
            {
                Assert.Empty(CliRun.Leftovers(output));
                Assert.All(TrainingCheckpoint.List(output), c => Assert.Null(TrainingCheckpoint.Problem(c.Path, out _)));
                Assert.Contains("continue with --resume", stdout);
            }
            else Assert.Contains("nothing was saved", stdout);
            // Whatever it left, the next run into the folder works.
            string[] again = ["train", "--method", "sft", "--model", model, "--dataset", CliRun.DemoData, "--output", output,
                "--max-steps", "1", "--batch-size", "2"];
            Assert.Equal(0, CliRun.Run(Directory.Exists(output) ? [.. again, "--overwrite"] : again).Code);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AFailedCheckpointWriteRemovesItsTemporaryFolder()
    {
        // The fault-injection form of a full disk: the model's save writes part of a file, then fails as ENOSPC does.
        var dir = Temp.Directory("ckpt-fail");
        try
        {
            using var model = TinyLlama.Create();
            var parameters = model.parameters().ToList();
            using var optimizer = new IftSharp.Training.Optimizers.AdamWOptimizer(parameters, 1e-3);
            var e = Assert.Throws<EnvironmentException>(() =>
                TrainingCheckpoint.Write(dir, new TrainerState(1, 0, 2, "sft", 0), new FullDisk(), optimizer, keepLast: null));
            Assert.Contains("checkpoint-1: could not be written (No space left on device)", e.Message);
            Assert.Contains("no earlier checkpoint was kept", e.Message);
            Assert.Empty(Directory.GetFileSystemEntries(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    private sealed class FullDisk : IModelCheckpoint
    {
        public void Save(string directory)
        {
            File.WriteAllText(Path.Combine(directory, "model.safetensors"), new string('x', 1000));
            throw new IOException("No space left on device", 28);
        }

        public void Load(string directory) => throw new NotSupportedException();
    }

    private static void Cut(string path, int length)
    {
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..length]);
    }

    private static List<int> Steps(string metrics) =>
        File.ReadAllLines(metrics).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32()).ToList();
}

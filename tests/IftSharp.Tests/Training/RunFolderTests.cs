using System.Diagnostics;
using IftSharp.Core;
using IftSharp.Methods;
using IftSharp.Tests.Support;
using IftSharp.Training;
using Xunit;

namespace IftSharp.Tests.Training;

/// <summary>
/// An output folder belongs to one run: a new run is refused a folder holding another run's files unless it resumes
/// it (the same fingerprint) or replaces it (--overwrite), and a lock refuses a second run into the folder at once.
/// </summary>
public class RunFolderTests
{
    private static string[] Train(string model, string output, params string[] flags) =>
        ["train", "--method", "sft", "--model", model, "--dataset", CliRun.DemoData, "--output", output, "--batch-size", "2", .. flags];

    [Fact]
    public void ANewRunIntoAnotherRunsFolderIsRefusedAndOverwriteReplacesIt()
    {
        // The issue's case: 6 steps with a checkpoint each into 'reuse', then 3 steps with --save-total-limit 2 into it.
        var dir = Temp.Directory("reuse");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var reuse = Path.Combine(dir, "reuse");
            Assert.Equal(0, CliRun.Run(Train(model, reuse, "--max-steps", "6", "--save-steps", "1")).Code);
            var before = Snapshot(reuse);

            var second = Train(model, reuse, "--max-steps", "3", "--save-steps", "1", "--save-total-limit", "2", "--learning-rate", "0.01");
            CliRun.Run(second).AssertError(2, $"--output: {reuse} already holds a training run", "checkpoint-1", "--resume", "--overwrite");
            Assert.Equal(before, Snapshot(reuse)); // not a byte changed

            Assert.Equal(0, CliRun.Run([.. second, "--overwrite"]).Code);
            Assert.Equal([2, 3], TrainingCheckpoint.List(reuse).Select(c => c.Step)); // the new run's, and only those
            Assert.Equal(3, File.ReadAllLines(Path.Combine(reuse, "metrics.jsonl")).Length);
            Assert.Equal("0.01", TrainingCheckpoint.ReadState(Path.Combine(reuse, "checkpoint-3")).Fingerprint!["learning-rate"]);
            Assert.DoesNotContain(Directory.GetFileSystemEntries(reuse), e => Path.GetFileName(e).StartsWith(".iftsharp",
                StringComparison.Ordinal));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void OverwriteKeepsFilesThatAreNotARunsAndClearsOnlyOnceTheInputsAreRead()
    {
        var dir = Temp.Directory("overwrite");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var output = Path.Combine(dir, "out");
            Assert.Equal(0, CliRun.Run(Train(model, output, "--max-steps", "2", "--save-steps", "1")).Code);
            File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
            File.WriteAllText(Path.Combine(output, "spin-round-1.jsonl"), "{}\n");
            var bad = TempJsonl.Write("{\"messages\": 5}");
            // Bad data with --overwrite: refused before the earlier run is touched.
            var refused = CliRun.Run("train", "--method", "sft", "--model", model, "--dataset", bad, "--output", output, "--overwrite");
            Assert.Equal(2, refused.Code);
            refused.AssertNoStackTrace();
            Assert.Equal([1, 2], TrainingCheckpoint.List(output).Select(c => c.Step));
            Assert.Equal(0, CliRun.Run(Train(model, output, "--max-steps", "1", "--overwrite")).Code);
            Assert.Empty(TrainingCheckpoint.List(output));
            Assert.False(File.Exists(Path.Combine(output, "spin-round-1.jsonl")));
            Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "notes.txt")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData(new[] { "--batch-size", "4" }, "--batch-size was 2, now 4")]
    [InlineData(new[] { "--learning-rate", "0.01" }, "--learning-rate was 0.001, now 0.01")]
    [InlineData(new[] { "--seed", "3" }, "--seed was 0, now 3")]
    [InlineData(new[] { "--max-length", "64" }, "--max-length was 512, now 64")]
    [InlineData(new[] { "--grad-accum", "2" }, "--grad-accum was 1, now 2")]
    [InlineData(new[] { "--scheduler", "linear" }, "--scheduler was cosine, now linear")]
    [InlineData(new[] { "--max-steps", "9" }, "--max-steps was 4, now 9")]
    [InlineData(new[] { "--method", "ift" }, "--method was sft, now ift")]
    [InlineData(new[] { "--loss-reduction", "sequence" }, "--loss-reduction was token, now sequence")]
    [InlineData(new[] { "--bf16" }, "--bf16 was false, now true")]
    public void ResumeWithAnotherSettingNamesIt(string[] change, string expected)
    {
        var dir = Temp.Directory("resume-other");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var output = Path.Combine(dir, "out");
            using var cancel = new CancellationTokenSource();
            var first = TrainingRun.Run(Options(model, CliRun.DemoData, output),
                new TrainingRunCallbacks { Cancel = cancel.Token, OnStep = m => { if (m.Step == 2) cancel.Cancel(); } });
            Assert.True(first.Interrupted);
            // The first run's flags with one changed; a switch has no value.
            var flags = new Dictionary<string, string?>
            {
                ["--method"] = "sft", ["--max-steps"] = "4", ["--batch-size"] = "2", ["--resume"] = null,
            };
            flags[change[0]] = change.Length > 1 ? change[1] : null;
            string[] args = ["train", "--model", model, "--dataset", CliRun.DemoData, "--output", output,
                .. flags.SelectMany(f => f.Value is null ? new[] { f.Key } : [f.Key, f.Value])];
            CliRun.Run(args).AssertError(2, $"--resume: {Path.Combine(output, "checkpoint-2")} belongs to another run", expected,
                "--overwrite");
            Assert.Equal([2], TrainingCheckpoint.List(output).Select(c => c.Step));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ResumeWithAnotherDatasetOrModelIsRefusedAndACopiedModelIsTheSame()
    {
        var dir = Temp.Directory("resume-data");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var output = Path.Combine(dir, "out");
            var data = Path.Combine(dir, "data.jsonl");
            File.Copy(CliRun.DemoData, data);
            using var cancel = new CancellationTokenSource();
            var stopAt1 = new TrainingRunCallbacks { Cancel = cancel.Token, OnStep = _ => cancel.Cancel() };
            TrainingRun.Run(Options(model, data, output), stopAt1);

            var other = Path.Combine(dir, "other.jsonl");
            File.WriteAllLines(other, File.ReadAllLines(data).Skip(1));
            var e = Assert.Throws<InputException>(() => TrainingRun.Run(Options(model, other, output, resume: true)));
            Assert.Contains("--dataset: not the data it was trained on", e.Message);

            var otherModel = CliRun.TinyModelFolder(Path.Combine(dir, "model2"));
            using (var m = IftSharp.Models.ModelFactory.CreateFromConfig(IftSharp.Models.LlamaForCausalLM.FromPretrained(model).Config,
                seed: 9))
                m.SavePretrained(otherModel);
            e = Assert.Throws<InputException>(() => TrainingRun.Run(Options(otherModel, data, output, resume: true)));
            Assert.Contains("--model: not the model it started from", e.Message);

            // The same model copied elsewhere (new paths, new times) is the same start: the run continues.
            var copy = Path.Combine(dir, "copy");
            Directory.CreateDirectory(copy);
            foreach (var f in Directory.GetFiles(model)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
            var rest = TrainingRun.Run(Options(copy, data, output, resume: true));
            Assert.Equal([2, 3, 4], rest.History.Select(m => m.Step));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TheFingerprintHoldsEveryTrajectorySettingAndNoBookkeeping()
    {
        var dir = Temp.Directory("fingerprint");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var o = Options(model, CliRun.DemoData, Path.Combine(dir, "out"));
            var method = MethodRegistry.Get("ift");
            var f = RunFingerprint.Of(o with { Method = "ift" }, method, method.Defaults);
            string[] trajectory =
            [
                "method", "model", "dataset", "batch-size", "grad-accum", "max-length", "max-prompt-length", "seed", "optimizer",
                "scheduler", "warmup-ratio", "learning-rate", "max-steps", "bf16", "max-grad-norm", "weight-decay", "group-by-length",
                "precompute-ref-logps", "lambda", "gamma", "propagation", "lora-r", "lora-alpha", "lora-dropout", "lora-target-modules",
                "use-rslora", "gradient-checkpointing", "logits-chunk", "ref-dtype",
            ];
            foreach (var key in trajectory)
                Assert.True(f.ContainsKey(key), key);
            foreach (var key in new[]
                { "output", "save-steps", "save-total-limit", "eval-steps", "eval-dataset", "resume", "overwrite", "save-final-optimizer" })
                Assert.False(f.ContainsKey(key), key);
            // Bookkeeping changes leave it equal; a trajectory setting changes it.
            var g = RunFingerprint.Of(o with { Method = "ift", Output = "elsewhere", Trainer = o.Trainer with { SaveSteps = 7 } },
                method, method.Defaults);
            Assert.Equal(f, g);
            var h = RunFingerprint.Of(o with { Method = "ift", Trainer = o.Trainer with { WeightDecay = 0.1 } }, method, method.Defaults);
            Assert.NotEqual(f["weight-decay"], h["weight-decay"]);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ModelIdentityNoticesAChangedWeightInTheMiddleOfTheFile()
    {
        var dir = Temp.Directory("identity");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var before = RunFingerprint.ModelIdentity(model);
            var weights = Path.Combine(model, "model.safetensors");
            var bytes = File.ReadAllBytes(weights);
            bytes[bytes.Length / 2] ^= 1;
            File.WriteAllBytes(weights, bytes);
            Assert.NotEqual(before, RunFingerprint.ModelIdentity(model));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task ASecondRunIntoTheSameFolderAtOnceIsRefusedAndTheFirstIsUntouched()
    {
        var dir = Temp.Directory("concurrent");
        try
        {
            var model = CliRun.TinyModelFolder(Path.Combine(dir, "model"));
            var output = Path.Combine(dir, "out");
            using var atStep1 = new ManualResetEventSlim();
            using var release = new ManualResetEventSlim();
            var options = Options(model, CliRun.DemoData, output);
            var first = Task.Run(() => TrainingRun.Run(options with { Trainer = options.Trainer with { MaxSteps = 3 } },
                new TrainingRunCallbacks { OnStep = m => { if (m.Step == 1) { atStep1.Set(); release.Wait(); } } }));
            Assert.True(atStep1.Wait(TimeSpan.FromMinutes(2)));
            CliRun.Run(Train(model, output, "--max-steps", "3")).AssertError(1,
                $"--output: another training run is writing to {output}", "wait for it to finish");
            CliRun.Run(Train(model, output, "--max-steps", "3", "--overwrite")).AssertError(1, "another training run is writing");
            release.Set();
            var result = await first;
            Assert.Equal([1, 2, 3], File.ReadAllLines(Path.Combine(output, "metrics.jsonl"))
                .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32()));
            Assert.Equal(3, result.History.Count);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TheLockIsTheOperatingSystemsAndGoesWithTheProcessThatHeldIt()
    {
        // util-linux's flock(1) takes the same flock(2) lock in another process, then dies.
        if (!File.Exists("/usr/bin/flock")) return;
        var dir = Temp.Directory("oslock");
        try
        {
            var output = Path.Combine(dir, "out");
            Directory.CreateDirectory(output);
            // -o: only flock itself holds the lock, not the sleep it runs.
            var flock = new ProcessStartInfo("/usr/bin/flock", ["-o", output, "sleep", "600"]) { RedirectStandardOutput = true };
            using var holder = Process.Start(flock)!;
            var clock = Stopwatch.StartNew();
            while (true) // until the other process holds it
            {
                try { using (OutputFolder.Claim(output, resume: false, overwrite: false)) { } }
                catch (EnvironmentException e) { Assert.Contains("another training run is writing to", e.Message); break; }
                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), "flock never took the lock");
                Thread.Sleep(50);
            }
            holder.Kill(entireProcessTree: true);
            holder.WaitForExit();
            for (clock.Restart(); ; Thread.Sleep(50)) // the kernel drops the lock as the process is torn down
            {
                try
                {
                    using var folder = OutputFolder.Claim(output, resume: false, overwrite: false);
                    break;
                }
                catch (EnvironmentException) when (clock.Elapsed < TimeSpan.FromSeconds(30)) { }
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    private static TrainingRunOptions Options(string model, string data, string output, bool resume = false) => new()
    {
        Method = "sft", Model = model, Dataset = data, Output = output,
        Trainer = new TrainerOptions { MaxSteps = 4, BatchSize = 2, SaveSteps = 0, Resume = resume },
    };

    /// <summary>Every file under a folder with its bytes' hash.</summary>
    private static Dictionary<string, string> Snapshot(string dir) => Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
        .ToDictionary(f => Path.GetRelativePath(dir, f),
            f => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))));
}

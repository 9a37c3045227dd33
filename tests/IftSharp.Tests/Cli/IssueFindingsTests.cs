using IftSharp.Tests.Support;
using IftSharp.Training;
using Xunit;

namespace IftSharp.Tests.Cli;

/// <summary>A tiny model folder and the demo data, shared by the findings below; removed after them.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public TinyModelFixture()
    {
        Root = Temp.Directory("findings");
        Model = CliRun.TinyModelFolder(Path.Combine(Root, "model"));
    }

    public string Root { get; }
    public string Model { get; }

    /// <summary>A fresh path under the fixture's folder (not created).</summary>
    public string NewPath(string name) => Path.Combine(Root, $"{name}-{Guid.NewGuid():N}");

    public void Dispose() => Directory.Delete(Root, true);
}

/// <summary>
/// Issue 15's findings through the real command line, one row each: the exit code, the one error line naming the flag,
/// file or field and what was expected, no stack trace, and nothing written (a refused run leaves no output folder).
/// The run-folder, resume, disk and Ctrl-C findings have their own tests (<c>RunFolderTests</c>, <c>ResumeRecoveryTests</c>).
/// </summary>
public class IssueFindingsTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    /// <summary>Flags of train that must be refused before anything is read: {flags, expected fragment}.</summary>
    public static IEnumerable<object[]> BadTrainFlags() =>
    [
        [new[] { "--learning-rate", "-0.001" }, "--learning-rate: -0.001 is out of range; expected a number ≥ 0"],
        [new[] { "--learning-rate", "NaN" }, "--learning-rate: NaN is not a finite number"],
        [new[] { "--batch-size", "0" }, "--batch-size: 0 is out of range; expected a whole number ≥ 1"],
        [new[] { "--max-grad-norm", "-1" }, "--max-grad-norm: -1 is out of range; expected a number > 0, or 0 to turn it off"],
        [new[] { "--lambda", "2" }, "--lambda: 2 is out of range; expected a number in [0, 1]"],
        [new[] { "--gamma", "-1" }, "--gamma: -1 is out of range; expected a number in [0, 1]"],
        [new[] { "--warmup-ratio", "5" }, "--warmup-ratio: 5 is out of range; expected a number in [0, 1]"],
        [new[] { "--method", "dpo", "--beta", "-0.1" }, "--beta: -0.1 is out of range; expected a number > 0"],
        [new[] { "--save-total-limit", "0" }, "--save-total-limit: 0 is out of range; expected a whole number ≥ 1"],
        [new[] { "--max-steps", "0" }, "--max-steps: 0 is out of range; expected a whole number ≥ 1"],
        [new[] { "--max-prompt-length", "-5" }, "--max-prompt-length: -5 is out of range; expected a whole number ≥ 1"],
        [new[] { "--scheduler", "99" }, "--scheduler: '99' is not one of constant, linear, cosine"],
        [new[] { "--optimizer", "7" }, "--optimizer: '7' is not one of adamw, rmsprop"],
        [new[] { "--overwrite", "--resume" }, "--overwrite, --resume: choose one"],
    ];

    [Theory]
    [MemberData(nameof(BadTrainFlags))]
    public void BadTrainSettingsAreRefusedBeforeAnythingIsWritten(string[] flags, string expected)
    {
        var output = fixture.NewPath("out");
        CliRun.Run(["train", "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output", output, .. flags]).AssertError(2,
            expected);
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("scheduler: 99\n", "scheduler: '99' is not one of constant, linear, cosine")]
    [InlineData("optimizer: 7\n", "optimizer: '7' is not one of adamw, rmsprop")]
    [InlineData("max_steps: 3\nlearnig_rate: 0.01\n", ":2: field 'learnig_rate': not a setting; did you mean learning_rate?")]
    [InlineData("batch_size: 0\n", "--batch-size: 0 is out of range")]
    public void BadConfigFilesAreRefusedBeforeAnythingIsWritten(string yaml, string expected)
    {
        var output = fixture.NewPath("out");
        var config = fixture.NewPath("config") + ".yaml";
        File.WriteAllText(config, yaml);
        CliRun.Run("train", "--config", config, "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output",
            output).AssertError(2, expected);
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData(new[] { "--prompt", "" }, "--prompt: empty; expected the text to continue")]
    [InlineData(new[] { "--prompt", "x", "--max-new-tokens", "-5" }, "--max-new-tokens: -5 is out of range; expected a whole number ≥ 1")]
    [InlineData(new[] { "--prompt", "x", "--max-new-tokens", "0" }, "--max-new-tokens: 0 is out of range")]
    [InlineData(new[] { "--prompt", "x", "--top-p", "0" }, "--top-p: 0 is out of range; expected a number in (0, 1]")]
    [InlineData(new[] { "--prompt", "x", "--top-p", "2" }, "--top-p: 2 is out of range; expected a number in (0, 1]")]
    [InlineData(new[] { "--prompt", "x", "--temperature", "-1" }, "--temperature: -1 is out of range; expected a number ≥ 0")]
    [InlineData(new[] { "--prompt", "x", "--temperature", "NaN" }, "--temperature: NaN is not a finite number")]
    [InlineData(new[] { "--prompt", "x", "--top-k", "-1" }, "--top-k: -1 is out of range; expected a whole number ≥ 0")]
    [InlineData(new[] { "--prompt", "x", "--repetition-penalty", "0" }, "--repetition-penalty: 0 is out of range; expected a number > 0")]
    public void BadGenerateFlagsAreRefusedBeforeTheModelLoads(string[] flags, string expected) =>
        CliRun.Run(["generate", "--model", "no-such-model-folder", .. flags]).AssertError(2, expected);

    [Fact]
    public void AnEmptyPromptIsFineWithTheChatTemplate() =>
        Assert.Equal(0, CliRun.Run("generate", "--model", fixture.Model, "--prompt", "", "--chat", "--max-new-tokens", "2").Code);

    [Fact]
    public void AnOutputPathThatIsAFileIsAnEnvironmentError()
    {
        var file = fixture.NewPath("file");
        File.WriteAllText(file, "not a folder");
        CliRun.Run("train", "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output", file, "--max-steps", "1")
            .AssertError(1, "--output: " + file + " is a file; expected a folder");
        Assert.Equal("not a folder", File.ReadAllText(file));
    }

    [Fact]
    public void TheOutputMayNotBeTheModelFolder()
    {
        CliRun.Run("train", "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output", fixture.Model, "--overwrite")
            .AssertError(2, "is the --model folder");
        Assert.True(File.Exists(Path.Combine(fixture.Model, "model.safetensors")));
    }

    [Fact]
    public void TheNanLossStopIsOneLineNamingTheLastGoodCheckpoint()
    {
        // A learning rate of 1e30 blows the weights up at the first step; the second step's loss or gradient is not finite.
        var output = fixture.NewPath("nan");
        var outcome = CliRun.Run("train", "--method", "sft", "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output", output,
            "--max-steps", "3", "--batch-size", "2", "--save-steps", "1", "--learning-rate", "1e30", "--warmup-ratio", "0");
        outcome.AssertError(2, "became", "at step 2; stopping (lower --learning-rate",
            "the last good checkpoint is " + Path.Combine(output, "checkpoint-1"));
        Assert.Matches("the (loss|gradient norm) became (NaN|-?Infinity)", outcome.Errors[0]);
        Assert.Empty(CliRun.Leftovers(output));
    }

    [Fact]
    public void ReadOnlyAndFullDisksAreEnvironmentErrorsThatLeaveNoTemporaryFiles()
    {
        using var readOnly = TmpfsMount.TryMount("ro,size=64k");
        if (readOnly is null) return; // no mount here: TrainingCheckpoint's and AtomicFile's own tests cover the cleanup
        CliRun.Run("train", "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output", Path.Combine(readOnly.Path, "out"),
            "--max-steps", "1")
            .AssertError(1, "--output: cannot create the folder", "Read-only file system", "choose a writable --output");

        // A folder that exists but cannot be written (refused before the data and the model are read).
        using var frozen = TmpfsMount.TryMount("size=64k")!;
        Directory.CreateDirectory(Path.Combine(frozen.Path, "out"));
        frozen.Remount("ro");
        CliRun.Run("train", "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output", Path.Combine(frozen.Path, "out"),
            "--max-steps", "1")
            .AssertError(1, "--output: cannot write into", "choose a writable --output");

        // Room for the first checkpoint and half another: the second's temporary folder must go.
        var measured = fixture.NewPath("measure");
        Assert.Equal(0, CliRun.Run("train", "--method", "sft", "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output", measured,
            "--max-steps", "1", "--batch-size", "2", "--save-steps", "1").Code);
        long pages = Directory.GetFiles(Path.Combine(measured, "checkpoint-1")).Sum(f => (new FileInfo(f).Length + 4095) / 4096);
        using var small = TmpfsMount.TryMount($"size={(pages * 3 / 2 + 2) * 4}k")!;
        var output = Path.Combine(small.Path, "out");
        CliRun.Run("train", "--method", "sft", "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output", output,
                "--max-steps", "3", "--batch-size", "2", "--save-steps", "1")
            .AssertError(1, Path.Combine(output, "checkpoint-2") + ": could not be written", "No space left on device",
                "the last complete checkpoint is " + Path.Combine(output, "checkpoint-1"), "--resume");
        Assert.Empty(CliRun.Leftovers(output));
        Assert.Equal([1], TrainingCheckpoint.List(output).Select(c => c.Step));
        Assert.Null(TrainingCheckpoint.Problem(Path.Combine(output, "checkpoint-1"), out _));

        // No room for the final model either: every temporary file is removed.
        using var tiny = TmpfsMount.TryMount("size=16k")!;
        var final = Path.Combine(tiny.Path, "out");
        CliRun.Run("train", "--method", "sft", "--model", fixture.Model, "--dataset", CliRun.DemoData, "--output", final,
                "--max-steps", "1", "--batch-size", "2")
            .AssertError(1, final + ": the final model could not be written", "No space left on device");
        Assert.Empty(CliRun.Leftovers(final));
    }
}

using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Core;
using IftSharp.Tests.Support;
using Xunit;

namespace IftSharp.Tests.Cli;

/// <summary>The one error boundary: what each kind of failure prints and which exit code it gives.</summary>
public class CliErrorsTests
{
    public static IEnumerable<object[]> Failures() =>
    [
        [new InputException("data.jsonl:3: field 'messages': expected a list"), 2,
            "error: data.jsonl:3: field 'messages': expected a list"],
        [new EnvironmentException("--output: out is a file; expected a folder"), 1, "error: --output: out is a file"],
        [new IOException("No space left on device : '/mnt/out/model.safetensors.tmp'", 28), 1, "the disk is full; free some space"],
        [new IOException("Read-only file system : '/mnt/out'", 30), 1, "the file system is read-only"],
        [new UnauthorizedAccessException("Access to the path '/root/x' is denied."), 1, "Check its permissions"],
        [new FileNotFoundException("Could not find file", "/data/x.jsonl"), 2, "error: /data/x.jsonl: file not found"],
        [new OperationCanceledException(), 130, "error: interrupted"],
        [new OutOfMemoryException(), 1, "out of memory; lower --batch-size"],
        [new InvalidOperationException("Sequence contains no elements"), 70,
            "error: internal error: InvalidOperationException: Sequence contains no elements"],
    ];

    [Theory]
    [MemberData(nameof(Failures))]
    public void EachFailureGivesOneLineAndItsExitCode(Exception failure, int code, string expected)
    {
        var outcome = Run(() => throw failure);
        Assert.Equal(code, outcome.Code);
        Assert.Single(outcome.Errors);
        Assert.Contains(expected, outcome.Errors[0]);
        if (code == 70)
        {
            Assert.Contains("this is a bug in IftSharp, please report it", outcome.Stderr);
            Assert.Contains("   at ", outcome.Stderr); // a bug report needs the trace
        }
        else outcome.AssertNoStackTrace();
    }

    [Fact]
    public void VerboseAddsTheStackTraceToAnInputError()
    {
        var quiet = Run(() => throw new InputException("--beta: bad"));
        var verbose = Run(() => throw new InputException("--beta: bad"), "--verbose");
        quiet.AssertError(2, "--beta: bad");
        Assert.Equal(2, verbose.Code);
        Assert.Contains("error: --beta: bad", verbose.Stderr);
        Assert.Contains("   at ", verbose.Stderr);
    }

    [Fact]
    public void AMultiLineMessageIsCutToItsFirstLine()
    {
        // libtorch's errors carry their C++ frames after the first line.
        var outcome = Run(() => throw new IOException("first line\nframe #0: c10::Error\nframe #1: ..."));
        Assert.Equal("error: first line", outcome.Stderr.Split('\n')[0].TrimEnd('\r'));
        Assert.DoesNotContain("frame #0", outcome.Stderr);
    }

    [Theory]
    [InlineData(new[] { "generate", "--model", "m", "--prompt", "x", "--max-new-tokens", "abc" },
        "--max-new-tokens: 'abc' is not a whole number")]
    [InlineData(new[] { "generate", "--model", "m", "--prompt", "x", "--top-p", "lots" }, "--top-p: 'lots' is not a number")]
    [InlineData(new[] { "generate", "--prompt", "x" }, "Option '--model' is required")]
    [InlineData(new[] { "train", "--lamda", "0.5" }, "--lamda: not an option of this command; did you mean --lambda?")]
    [InlineData(new[] { "trian" }, "Unrecognized command or argument 'trian'")]
    [InlineData(new[] { "frozenlake", "--hidden", "0" }, "--hidden: 0 is out of range; expected a whole number ≥ 1")]
    [InlineData(new[] { "frozenlake", "--learning-rate", "NaN" }, "--learning-rate: NaN is not a finite number; expected a number > 0")]
    [InlineData(new[] { "frozenlake", "--learning-rate", "-1" }, "--learning-rate: -1 is out of range; expected a number > 0")]
    [InlineData(new[] { "frozenlake", "--seeds", "0" }, "--seeds: 0 is out of range")]
    [InlineData(new[] { "frozenlake", "--steps", "-3" }, "--steps: -3 is out of range")]
    [InlineData(new[] { "compare", "--seeds", "-1" }, "--seeds: -1 is out of range")]
    [InlineData(new[] { "bench", "--repeats", "0" }, "--repeats: 0 is out of range")]
    [InlineData(new[] { "bench", "--rounds", "0" }, "--rounds: 0 is out of range")]
    [InlineData(new[] { "bench", "--curve-steps", "-1" }, "--curve-steps: -1 is out of range; expected a whole number ≥ 0")]
    public void ParseErrorsAreOneLineWithExitCodeTwo(string[] args, string expected)
    {
        var outcome = CliRun.Run(args);
        outcome.AssertError(2, expected);
        Assert.EndsWith("--help)", outcome.Errors[0].TrimEnd('\r'));
    }

    [Fact]
    public void AnUnknownFlagsValueIsNotASecondError()
    {
        var outcome = CliRun.Run("train", "--lamda", "3");
        outcome.AssertError(2, "--lamda");
        Assert.DoesNotContain("'3'", outcome.Errors[0]);
    }

    private static CliOutcome Run(Action body, params string[] extra)
    {
        var root = new RootCommand();
        var command = new Command("fail");
        command.SetAction(_ => CliErrors.Run(() => { body(); return 0; }));
        root.Subcommands.Add(command);
        var error = new StringWriter();
        int code = CliErrors.Invoke(root, ["fail", .. extra], error);
        return new CliOutcome(code, error.ToString());
    }
}

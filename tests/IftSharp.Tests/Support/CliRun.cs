using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using IftSharp.Cli.Commands;
using IftSharp.Models;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Support;

/// <summary>What a command line run returned: its exit code and what it wrote to standard error.</summary>
public sealed record CliOutcome(int Code, string Stderr)
{
    /// <summary>The <c>error: ...</c> lines.</summary>
    public IReadOnlyList<string> Errors => Stderr.Split('\n').Where(l => l.StartsWith("error: ", StringComparison.Ordinal)).ToList();

    /// <summary>
    /// The run failed as a user-caused failure should: the exit code, exactly one error line holding every expected
    /// fragment (the file, line, field or flag and what was expected), and no stack trace.
    /// </summary>
    public void AssertError(int code, params string[] fragments)
    {
        Assert.True(Code == code, $"exit code {Code}, expected {code}; stderr:\n{Stderr}");
        Assert.True(Errors.Count == 1, $"expected one error line; stderr:\n{Stderr}");
        foreach (var f in fragments) Assert.True(Errors[0].Contains(f, StringComparison.Ordinal), $"'{f}' not in: {Errors[0]}");
        AssertNoStackTrace();
    }

    public void AssertNoStackTrace()
    {
        Assert.DoesNotContain("   at ", Stderr);
        Assert.DoesNotContain("Unhandled exception", Stderr);
    }
}

/// <summary>Runs <c>iftsharp</c> as the program does: in this process through the one error boundary, or as a child process.</summary>
public static class CliRun
{
    public static CliOutcome Run(params string[] args)
    {
        var root = new RootCommand();
        foreach (var c in CommandCatalog.All()) root.Subcommands.Add(c);
        var error = new StringWriter();
        int code = CliErrors.Invoke(root, args, error);
        return new CliOutcome(code, error.ToString());
    }

    /// <summary>The program itself (its app host is copied beside the tests), started with redirected output.</summary>
    public static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "IftSharp.Cli"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>Sends SIGINT, as Ctrl-C in a terminal does.</summary>
    public static void Interrupt(Process process) => Assert.Equal(0, Kill(process.Id, 2));

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>A one-layer model folder over the byte-level vocabulary (config, weights, tokenizer files).</summary>
    public static string TinyModelFolder(string dir)
    {
        using var model = TinyLlama.Create();
        model.SavePretrained(dir);
        new ByteLevelTokenizer().Save(dir);
        return dir;
    }

    /// <summary>The bundled demo conversations (122 rows).</summary>
    public static string DemoData => Path.Combine(AppContext.BaseDirectory, "data", "demo", "train.jsonl");

    /// <summary>Every temporary file or folder left under <paramref name="dir"/> (names ending in .tmp or holding .tmp.).</summary>
    public static IReadOnlyList<string> Leftovers(string dir) => !Directory.Exists(dir) ? []
        : Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories)
            .Where(p => Path.GetFileName(p).EndsWith(".tmp", StringComparison.Ordinal) || Path.GetFileName(p).Contains(".tmp.",
                StringComparison.Ordinal))
            .ToList();
}

/// <summary>
/// A small tmpfs mounted for a test (the tests run as root): a real full disk or read-only file system. Null where
/// mounting is not allowed; those tests then check the same path through a failing writer instead.
/// </summary>
public sealed class TmpfsMount : IDisposable
{
    private TmpfsMount(string path) => Path = path;

    public string Path { get; }

    public static TmpfsMount? TryMount(string options)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var dir = Temp.Directory("tmpfs");
        if (Run("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir) == 0) return new TmpfsMount(dir);
        Directory.Delete(dir);
        return null;
    }

    public void Remount(string options) => Assert.Equal(0, Run("mount", "-o", "remount," + options, Path));

    public void Dispose()
    {
        Run("umount", Path);
        Directory.Delete(Path, true);
    }

    private static int Run(string file, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.WaitForExit();
            return p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception) { return -1; } // no mount program
    }
}

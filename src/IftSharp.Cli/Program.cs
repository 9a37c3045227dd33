using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Core;

// Redirected output (CI, files) gets wide tables instead of Spectre.Console's 80-column default.
if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 160;

// Before any libtorch work: MKL's vendor check on AMD, threads from the cores this process may use (Core/NativeSetup).
NativeSetup.Initialize();
LargeAllocations.KeepPagesAcrossSteps();

var root = new RootCommand("IftSharp: fine-tune and align decoder-only language models in .NET (SFT, IFT, DPO, IPO, ORPO, EXO, SimPO).");
var threads = new Option<int?>("--threads")
{
    Description = "libtorch's intra-op threads (default: the cores this process may use, from its CPU affinity and cgroup quota).",
    Recursive = true,
};
root.Options.Add(threads);
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);

try
{
    var parsed = root.Parse(args);
    if (parsed.Errors.Count == 0 && parsed.GetValue(threads) is int count)
    {
        if (count < 1) throw new InputException($"--threads: expected a positive number of threads, got {count}");
        NativeSetup.SetThreads(count);
    }
    return parsed.Invoke();
}
catch (InputException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

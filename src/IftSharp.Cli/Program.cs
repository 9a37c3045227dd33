using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Core;

// Redirected output (CI, files) gets wide tables instead of Spectre.Console's 80-column default.
if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 160;

// Before any libtorch work: MKL's vendor check on AMD, threads from the cores this process may use (Core/NativeSetup).
NativeSetup.Initialize(); // malloc's tuning waits for the first model: it depends on its size (Core/LargeAllocations)

var root = new RootCommand("IftSharp: fine-tune and align decoder-only language models in .NET (SFT, IFT, DPO, IPO, ORPO, EXO, SimPO).");
var threads = new Option<int?>("--threads")
{
    Description = "libtorch's intra-op threads (default: the cores this process may use, from its CPU affinity and cgroup quota).",
    Recursive = true,
};
root.Options.Add(threads);
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);

threads.Validators.Add(result =>
{
    if (result.GetValueOrDefault<int?>() is int n && n < 1) result.AddError($"--threads: {n}; expected a positive number of threads");
});
if (root.Parse(args) is { Errors.Count: 0 } parsed && parsed.GetValue(threads) is int count) NativeSetup.SetThreads(count);
return CliErrors.Invoke(root, args); // one error boundary: one line "error: ...", exit codes 2 / 1 / 130 / 70 (README)

using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Core;

// Redirected output (CI, files) gets wide tables instead of Spectre.Console's 80-column default.
if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 160;

// Before any libtorch work: MKL's vendor check on AMD (Core/NativeSetup).
NativeSetup.Initialize();
LargeAllocations.KeepPagesAcrossSteps();

var root = new RootCommand("IftSharp: fine-tune and align decoder-only language models in .NET (SFT, IFT, DPO, IPO, ORPO, EXO, SimPO).");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);

try
{
    return root.Parse(args).Invoke();
}
catch (InputException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

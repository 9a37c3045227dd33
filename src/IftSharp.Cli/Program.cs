using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Core;

// Redirected output (CI, files) gets wide tables instead of Spectre.Console's 80-column default.
if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 160;

LargeAllocations.KeepPagesAcrossSteps();

var root = new RootCommand("IftSharp: fine-tune and align decoder-only language models in .NET (SFT, IFT, DPO, IPO, ORPO, EXO, SimPO).");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);

return CliErrors.Invoke(root, args); // one error boundary: one line "error: ...", exit codes 2 / 1 / 130 / 70 (README)

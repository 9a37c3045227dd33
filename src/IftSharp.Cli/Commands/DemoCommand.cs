using System.CommandLine;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp demo</c>: a short end-to-end demonstration that grows with the product.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var command = new Command("demo", "A short end-to-end demonstration (under 3 minutes on 2 cores).");
        command.SetAction(_ => CliErrors.Run(Run));
        return command;
    }

    private static int Run()
    {
        AnsiConsole.MarkupLine("[bold]IftSharp demo[/]");
        using var scope = NewDisposeScope();
        var x = randn(4, 4, requires_grad: true);
        (x * x).sum().backward();
        AnsiConsole.MarkupLine($"TorchSharp loaded (libtorch {torch.__version__}), autograd ok: {x.grad!.allclose(2 * x)}");
        return 0;
    }
}

using System.CommandLine;
using IftSharp.FrozenLake;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp demo</c>: a short end-to-end demonstration that grows with the product.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output") { Description = "Folder for the demo's files.", DefaultValueFactory = _ => "runs/demo" };
        var command = new Command("demo", "A short end-to-end demonstration (under 3 minutes on 2 cores).");
        command.Options.Add(output);
        command.SetAction(parse => CliErrors.Run(() => Run(parse.GetValue(output)!)));
        return command;
    }

    private static int Run(string output)
    {
        AnsiConsole.Write(new Rule("[bold]IftSharp demo[/]"));
        using (NewDisposeScope())
        {
            var x = randn(4, 4, requires_grad: true);
            (x * x).sum().backward();
            AnsiConsole.MarkupLine($"TorchSharp {Markup.Escape(torch.__version__)} loaded; autograd check: {(x.grad!.allclose(2 * x) ? "[green]ok[/]" : "[red]failed[/]")}; {get_num_threads()} threads.");
        }

        AnsiConsole.Write(new Rule("Frozen Lake (IFT paper §5.3), 3 seeds"));
        AnsiConsole.MarkupLine("Six methods fine-tune the same policy network from trajectory data; lower MSE is closer to the optimal policy.");
        var settings = new FrozenLakeSettings { Seeds = 3 };
        var result = FrozenLakeExperiment.Run(settings);
        var dir = Path.Combine(output, "frozenlake");
        FrozenLakeReport.Write(result, dir);
        FrozenLakeCommand.Render(result);
        AnsiConsole.MarkupLine($"Plot: [bold]{Markup.Escape(Path.Combine(dir, "frozenlake.png"))}[/] (full run: iftsharp frozenlake).");
        return 0;
    }
}

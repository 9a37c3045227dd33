using System.CommandLine;

namespace IftSharp.Cli.Commands;

/// <summary>Every subcommand of <c>iftsharp</c>, in the order <c>--help</c> lists them.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return DemoCommand.Create();
        yield return InitModelCommand.Create();
        yield return TrainCommand.Create();
        yield return GenerateCommand.Create();
        yield return MergeCommand.Create();
        yield return PlotCommand.Create();
        yield return FrozenLakeCommand.Create();
        yield return EvalCommand.Create();
        yield return CompareCommand.Create();
        yield return BenchCommand.Create();
    }
}

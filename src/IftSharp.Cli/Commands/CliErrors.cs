using IftSharp.Core;

namespace IftSharp.Cli.Commands;

/// <summary>Runs a command body and turns bad input into exit code 2 with a one-line message.</summary>
public static class CliErrors
{
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (InputException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}

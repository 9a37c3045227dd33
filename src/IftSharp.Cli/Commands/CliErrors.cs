using System.CommandLine;
using System.CommandLine.Invocation;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using IftSharp.Core;

namespace IftSharp.Cli.Commands;

/// <summary>
/// The command line's one error boundary: every failure ends with one line <c>error: ...</c> on standard error and an
/// exit code that says whose move it is. A stack trace is printed only with <c>--verbose</c>, or for a failure no user
/// could cause (an internal bug, which then asks to be reported).
/// </summary>
public static partial class CliErrors
{
    /// <summary>Bad input: a flag, a config key, a data or model file. Fix the input and run again.</summary>
    public const int InputError = 2;
    /// <summary>The machine: a full disk, a permission, a path of the wrong kind, a folder another run holds.</summary>
    public const int EnvironmentError = 1;
    /// <summary>A bug in IftSharp (EX_SOFTWARE of sysexits.h): the message asks for a report and shows the trace.</summary>
    public const int InternalError = 70;
    /// <summary>Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    private sealed record Context(TextWriter Error, bool Verbose);

    // Per call of Invoke, so tests that run commands in parallel each read their own standard error.
    private static readonly AsyncLocal<Context?> Current = new();

    /// <summary>Where error lines go: standard error, or the writer given to <see cref="Invoke"/>.</summary>
    public static TextWriter Error => Current.Value?.Error ?? Console.Error;

    /// <summary>Whether <c>--verbose</c> was given: stack traces for every error.</summary>
    public static bool Verbose => Current.Value?.Verbose ?? false;

    /// <summary>Parses and runs a command line: parse errors, unhandled failures and a command's own errors all end here.</summary>
    public static int Invoke(RootCommand root, string[] args, TextWriter? error = null)
    {
        var verbose = root.Options.OfType<Option<bool>>().FirstOrDefault(o => o.Name == "--verbose");
        if (verbose is null)
            root.Options.Add(verbose = new Option<bool>("--verbose")
            {
                Description = "Print the stack trace of an error (for bug reports).", Recursive = true,
            });
        var previous = Current.Value;
        try
        {
            var parse = root.Parse(args);
            Current.Value = new Context(error ?? Console.Error, parse.GetValue(verbose));
            if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction) return ReportParseErrors(parse);
            return parse.Invoke(new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null, Error = error ?? Console.Error,
            });
        }
        catch (Exception e) { return Handle(e); }
        finally { Current.Value = previous; }
    }

    /// <summary>Runs a command body: what it throws becomes one error line and its exit code.</summary>
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (Exception e) { return Handle(e); }
    }

    /// <summary>Writes the error line (and the trace where one is due) and returns the exit code.</summary>
    public static int Handle(Exception exception)
    {
        var e = Unwrap(exception);
        var (code, message) = Classify(e);
        Error.WriteLine($"error: {OneLine(message)}");
        if (code == InternalError)
        {
            Error.WriteLine("this is a bug in IftSharp, please report it with the command line and this trace:");
            Error.WriteLine(exception);
        }
        else if (Verbose) Error.WriteLine(exception);
        return code;
    }

    /// <summary>The exit code of a failure and the message that tells the user what went wrong and what to do.</summary>
    public static (int Code, string Message) Classify(Exception e) => e switch
    {
        InputException => (InputError, e.Message),
        EnvironmentException => (EnvironmentError, e.Message),
        OperationCanceledException => (Interrupted, "interrupted"),
        FileNotFoundException f => (InputError, $"{f.FileName ?? f.Message}: file not found; check the path"),
        DirectoryNotFoundException => (InputError, $"{e.Message} Check the path."),
        UnauthorizedAccessException => (EnvironmentError, $"{e.Message} Check its permissions or choose another path."),
        PathTooLongException => (InputError, $"{e.Message} Choose a shorter path."),
        IOException io when io.HResult is Enospc or Edquot =>
            (EnvironmentError, $"{e.Message}: the disk is full; free some space or choose another --output"),
        IOException io when io.HResult == Erofs =>
            (EnvironmentError, $"{e.Message}: the file system is read-only; choose another --output"),
        IOException => (EnvironmentError, e.Message),
        OutOfMemoryException => (EnvironmentError, "out of memory; lower --batch-size or --max-length"),
        ExternalException when e.Message.Contains("can't allocate memory", StringComparison.OrdinalIgnoreCase) =>
            (EnvironmentError, $"out of memory ({OneLine(e.Message)}); lower --batch-size or --max-length"),
        _ => (InternalError, $"internal error: {e.GetType().Name}: {e.Message}"),
    };

    // errno values .NET puts in IOException.HResult on Linux.
    private const int Enospc = 28, Erofs = 30, Edquot = 122;

    private static Exception Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerExceptions[0]),
        System.Reflection.TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        _ => e,
    };

    /// <summary>An error is one line: the first line of a multi-line message (libtorch appends its C++ frames).</summary>
    private static string OneLine(string message)
    {
        var first = message.Split('\n', 2)[0].TrimEnd('\r', ' ');
        return first.Length > 0 ? first : message.Replace('\n', ' ');
    }

    /// <summary>Parse errors (an unknown flag, a value of the wrong type, a missing required option) as one line each run.</summary>
    private static int ReportParseErrors(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        var errors = parse.Errors.Select(e => e.Message).ToList();
        // After an unknown --flag, its value is unmatched too: that second error says nothing new.
        static string? Unknown(string m) => Unrecognized().Match(m) is { Success: true } u ? u.Groups["token"].Value : null;
        if (errors.Any(m => Unknown(m)?.StartsWith("--", StringComparison.Ordinal) == true))
            errors.RemoveAll(m => Unknown(m) is { } token && !token.StartsWith('-'));
        var messages = errors.Select(m => Rephrase(m, command)).Distinct();
        var name = command is RootCommand ? "iftsharp" : $"iftsharp {command.Name}";
        Error.WriteLine($"error: {string.Join("; ", messages)} (see {name} --help)");
        return InputError;
    }

    private static string Rephrase(string message, Command command)
    {
        var type = CannotParse().Match(message);
        if (type.Success)
        {
            var expected = type.Groups["type"].Value switch
            {
                "System.Int32" or "System.Int64" => "a whole number",
                "System.Double" or "System.Single" => "a number",
                "System.Boolean" => "true or false",
                var t => t.Replace("System.", ""),
            };
            return $"{type.Groups["option"].Value}: '{type.Groups["value"].Value}' is not {expected}";
        }
        var unknown = Unrecognized().Match(message);
        if (unknown.Success && unknown.Groups["token"].Value.StartsWith("--", StringComparison.Ordinal))
        {
            var token = unknown.Groups["token"].Value;
            var names = command.Options.Select(o => o.Name).Concat(command.Options.SelectMany(o => o.Aliases))
                .Where(n => n.StartsWith("--", StringComparison.Ordinal)).Distinct().ToList();
            var nearest = names.MinBy(n => SettingOptions.Distance(n, token));
            bool close = nearest is not null && SettingOptions.Distance(nearest, token) <= Math.Max(2, token.Length / 3);
            return $"{token}: not an option of this command" + (close ? $"; did you mean {nearest}?" : "");
        }
        return message.TrimEnd('.');
    }

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for option '(?<option>[^']+)' as expected type '(?<type>[^']+)'")]
    private static partial Regex CannotParse();

    [GeneratedRegex(@"^Unrecognized command or argument '(?<token>[^']+)'")]
    private static partial Regex Unrecognized();
}

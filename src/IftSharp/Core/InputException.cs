namespace IftSharp.Core;

/// <summary>
/// Bad user input (a file, a field, an option): the message names where and what was expected.
/// The command line turns it into exit code 2 without a stack trace.
/// </summary>
public sealed class InputException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Builds a message of the form "FILE:LINE: field 'F': problem".</summary>
    public static InputException At(string file, int? line, string? field, string problem)
    {
        var where = line is int l ? $"{file}:{l}" : file;
        var what = field is null ? problem : $"field '{field}': {problem}";
        return new InputException($"{where}: {what}");
    }
}

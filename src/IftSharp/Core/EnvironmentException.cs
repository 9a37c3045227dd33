namespace IftSharp.Core;

/// <summary>
/// A failure of the machine rather than of the input: a full disk, a permission, a path of the wrong kind (an
/// output folder that is a file), a folder another run holds. The message names the path and what to do; the
/// command line turns it into exit code 1 without a stack trace.
/// </summary>
public sealed class EnvironmentException(string message, Exception? inner = null) : Exception(message, inner);

namespace IftSharp.Data;

/// <summary>How the dataset readers tokenise, truncate and report.</summary>
/// <param name="MaxLength">Sequences are cut on the right to this many tokens (after the prompt's own cut).</param>
public sealed record DatasetReadOptions(int MaxLength)
{
    /// <summary>The prompt keeps its last N tokens (TRL's max_prompt_length); null keeps it whole.</summary>
    public int? MaxPromptLength { get; init; }

    /// <summary>Replace invalid UTF-8 in a JSONL file with U+FFFD instead of stopping at the first bad line.</summary>
    public bool AllowInvalidUtf8 { get; init; }

    /// <summary>
    /// Receives one summary line per kind of problem a file has that does not stop reading (rows whose prompt's tokens
    /// are not a prefix of prompt + completion's, preference pairs whose two sides are identical), after the file is read.
    /// </summary>
    public Action<string>? Warn { get; init; }
}

using IftSharp.Tokenization;

namespace IftSharp.Data;

/// <summary>
/// Where a row comes from (named in errors), what its chat template receives besides the messages (the row's
/// <c>tools</c> and <c>chat_template_kwargs</c>), and where its warnings are counted.
/// </summary>
public sealed record RowContext(string Source, int Line)
{
    public ChatTemplateArguments Arguments { get; init; } = ChatTemplateArguments.None;

    public DatasetWarnings? Warnings { get; init; }
}

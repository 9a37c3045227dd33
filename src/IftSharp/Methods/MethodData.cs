using IftSharp.Tokenization;

namespace IftSharp.Methods;

/// <summary>A method's tokenised dataset; the items' type depends on the method's <see cref="DataShape"/>.</summary>
public abstract class MethodData
{
    public abstract int Count { get; }
    /// <summary>What the items are, in words ("preference pairs").</summary>
    public abstract string Noun { get; }

    /// <summary>Items already in memory (a library caller's own data, the benchmark's).</summary>
    public static MethodData<TItem> Of<TItem>(IReadOnlyList<TItem> items, string noun = "examples") => new(items, noun);
}

public sealed class MethodData<TItem>(IReadOnlyList<TItem> items, string noun) : MethodData
{
    public IReadOnlyList<TItem> Items { get; } = items;
    public override int Count => Items.Count;
    public override string Noun { get; } = noun;
}

/// <summary>How to read and tokenise a dataset file.</summary>
public sealed record DataRequest(ITokenizer Tokenizer, IChatTemplate? Template, int MaxLength, int? MaxPromptLength = null)
{
    /// <summary>Replace invalid UTF-8 with U+FFFD instead of stopping at its line.</summary>
    public bool AllowInvalidUtf8 { get; init; }

    /// <summary>Receives one line per kind of problem that does not stop reading (identical pairs, ...).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>The readers' options.</summary>
    public Data.DatasetReadOptions ReadOptions =>
        new(MaxLength) { MaxPromptLength = MaxPromptLength, AllowInvalidUtf8 = AllowInvalidUtf8, Warn = Warn };
}

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
    /// <summary>Where the model folder's files came from, for error messages about the chat template.</summary>
    public string ModelDirectory { get; init; } = "the model folder";

    /// <summary>The chat template, required by conversational rows of this shape.</summary>
    public IChatTemplate RequireTemplate(string why) => Template
        ?? throw new Core.InputException($"{Path.Combine(ModelDirectory, "tokenizer_config.json")}: field 'chat_template': missing; {why}");
}

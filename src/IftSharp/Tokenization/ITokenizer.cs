namespace IftSharp.Tokenization;

/// <summary>Token ids of a text with, for each id, the character span [Start, End) of the text it came from.</summary>
public sealed record TokenizedText(IReadOnlyList<int> Ids, IReadOnlyList<(int Start, int End)> Offsets);

/// <summary>A text tokenizer as the trainer sees it: encode with character offsets (for loss masks), decode, special tokens.</summary>
public interface ITokenizer
{
    int VocabSize { get; }
    int? BosTokenId { get; }
    int? EosTokenId { get; }
    int? PadTokenId { get; }
    string? BosToken { get; }
    string? EosToken { get; }

    /// <summary>
    /// Encodes <paramref name="text"/>; special tokens written in the text are recognised. <paramref name="addSpecialTokens"/>
    /// applies the tokenizer's post-processor (e.g. a BOS token) as <c>transformers</c> does by default.
    /// </summary>
    TokenizedText Encode(string text, bool addSpecialTokens = false);

    string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false);

    /// <summary>The id of a token string in the vocabulary (including added tokens), or null.</summary>
    int? TokenToId(string token);
}

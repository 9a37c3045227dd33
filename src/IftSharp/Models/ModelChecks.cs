using IftSharp.Core;
using IftSharp.Tokenization;

namespace IftSharp.Models;

/// <summary>Checks between a model's config and the files used with it, run before a model is built or used.</summary>
public static class ModelChecks
{
    /// <summary>
    /// Throws an input error naming <paramref name="source"/>'s <c>vocab_size</c> unless the model's embedding has a row for
    /// every id <paramref name="tokenizer"/> produces (otherwise the embedding lookup fails inside libtorch), and naming
    /// the field when a BOS, EOS or PAD id of the config lies outside the vocabulary.
    /// </summary>
    public static void VocabularyCovers(DecoderConfig config, ITokenizer tokenizer, string source = "config.json") =>
        VocabularyCovers(config, tokenizer.VocabSize, source);

    /// <summary><see cref="VocabularyCovers(DecoderConfig, ITokenizer, string)"/> for a tokenizer of <paramref name="tokenizerIds"/> ids
    /// (0 .. n − 1).</summary>
    public static void VocabularyCovers(DecoderConfig config, int tokenizerIds, string source = "config.json")
    {
        if (config.VocabSize < tokenizerIds)
            throw InputException.At(source, null, "vocab_size",
                $"{config.VocabSize} is smaller than the tokenizer's {tokenizerIds} ids (0 to {tokenizerIds - 1}); the model has no "
                + "embedding for the ids above it: use the tokenizer the model was trained with, or a vocab_size of at least that many");
        CheckId(config.BosTokenId, "bos_token_id");
        foreach (var eos in config.EosTokenIds) CheckId(eos, "eos_token_id");
        CheckId(config.PadTokenId, "pad_token_id");

        void CheckId(int? id, string field)
        {
            if (id is int value && value >= config.VocabSize)
                throw InputException.At(source, null, field, $"{value} is outside the vocabulary of {config.VocabSize} ids");
        }
    }
}

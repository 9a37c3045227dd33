using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Tokenization;

namespace IftSharp.Tests.Support;

/// <summary>A one-layer Llama over the byte-level vocabulary, and a few tokenised conversations, for trainer and CLI tests.</summary>
public static class TinyLlama
{
    public static LlamaForCausalLM Create() => ModelFactory.CreateFromConfig(new DecoderConfig
    {
        HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 1, NumAttentionHeads = 2, VocabSize = new ByteLevelTokenizer().VocabSize,
        TieWordEmbeddings = true, MaxPositionEmbeddings = 256, EosTokenId = [new ByteLevelTokenizer().EosTokenId!.Value],
    }, seed: 0);

    public static int PadId => new ByteLevelTokenizer().PadTokenId!.Value;

    /// <summary>"Reverse cat" → "tac" and the like, tokenised with the ChatML template, loss on the answers.</summary>
    public static List<TrainingExample> ReversalExamples(int count = 4) =>
        new[] { ("cat", "tac"), ("dog", "god"), ("sun", "nus"), ("owl", "lwo"), ("bee", "eeb") }.Take(count)
            .Select(w => ConversationDataset.Tokenize(
                [new ChatMessage("user", "Reverse " + w.Item1), new ChatMessage("assistant", w.Item2)],
                new ByteLevelTokenizer(), new ChatMlTemplate(), 64)).ToList();
}

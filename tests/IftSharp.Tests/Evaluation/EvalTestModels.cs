using IftSharp.Models;
using IftSharp.Tokenization;
using static TorchSharp.torch;

namespace IftSharp.Tests.Evaluation;

/// <summary>
/// A model whose every log-probability is known by construction: a bigram machine over the byte-level vocabulary. The
/// embedding is the identity (token i is the unit vector e_i), the attention and MLP outputs are zero (o_proj and
/// down_proj zero), so the final hidden state is RMSNorm(e_i) = s·e_i with s = 1/√(1/H + ε), and the untied head maps
/// e_i to the logit <see cref="Strength"/> on <see cref="Next"/>(i) and 0 elsewhere. After "\n" it writes
/// "Answer: 42" and then the end-of-turn token; after a token with no successor every token is equally likely.
/// </summary>
public static class BigramModel
{
    public const int Hidden = 260; // the 259 tokens' unit vectors, plus one spare dimension (2 heads of even size)
    public const double Epsilon = 1e-5;
    public const double Strength = 10; // the successor's logit s·c, with c the head's entry

    public const string Chain = "\nAnswer: 42";

    private static readonly ByteLevelTokenizer Tokenizer = new();

    /// <summary>The token that follows <paramref name="token"/>: the next character of <see cref="Chain"/>, and after its
    /// last the end-of-turn token; null for tokens outside the chain.</summary>
    public static int? Next(int token)
    {
        for (int i = 0; i < Chain.Length; i++)
            if (Chain[i] == token)
                return i + 1 < Chain.Length ? Chain[i + 1] : Tokenizer.EosTokenId!.Value;
        return null;
    }

    private static int Vocab => Tokenizer.VocabSize;

    /// <summary>log p(<paramref name="token"/> | previous token <paramref name="previous"/>), in closed form.</summary>
    public static double LogProb(int previous, int token)
    {
        if (Next(previous) is not int next) return -Math.Log(Vocab);
        double logZ = Math.Log(Math.Exp(Strength) + (Vocab - 1));
        return (token == next ? Strength : 0) - logZ;
    }

    /// <summary>The summed log-probability of <paramref name="continuation"/>'s bytes after a text ending in
    /// <paramref name="lastOfContext"/>.</summary>
    public static double LogLikelihood(char lastOfContext, string continuation)
    {
        double total = 0;
        int previous = lastOfContext;
        foreach (char c in continuation)
        {
            total += LogProb(previous, c);
            previous = c;
        }
        return total;
    }

    /// <summary>The model folder: config, weights and the byte-level tokenizer with its ChatML template.</summary>
    public static string Folder(string dir)
    {
        using var model = ModelFactory.CreateFromConfig(new DecoderConfig
        {
            HiddenSize = Hidden, IntermediateSize = 8, NumHiddenLayers = 1, NumAttentionHeads = 2, VocabSize = Vocab,
            TieWordEmbeddings = false, MaxPositionEmbeddings = 256, RmsNormEps = Epsilon, EosTokenId = [Tokenizer.EosTokenId!.Value],
        }, seed: 0);
        double s = 1 / Math.Sqrt(1.0 / Hidden + Epsilon);
        // Weights are copied from arrays (no temporary Scalars: see the README's build notes).
        var head = new float[Vocab * Hidden];
        for (int i = 0; i < Vocab; i++)
            if (Next(i) is int next) head[next * Hidden + i] = (float)(Strength / s);
        using (no_grad())
        {
            var state = model.state_dict();
            foreach (var (name, p) in state)
                if (name.EndsWith("o_proj.weight", StringComparison.Ordinal) || name.EndsWith("down_proj.weight", StringComparison.Ordinal))
                    p.zero_();
            state["model.norm.weight"].copy_(ones(Hidden));
            state["model.embed_tokens.weight"].copy_(eye(Vocab, Hidden));
            state["lm_head.weight"].copy_(tensor(head).reshape(Vocab, Hidden));
        }
        model.SavePretrained(dir);
        Tokenizer.Save(dir);
        return dir;
    }
}

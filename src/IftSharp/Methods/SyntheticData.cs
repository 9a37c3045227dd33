using IftSharp.Data;
using IftSharp.Objectives;

namespace IftSharp.Methods;

/// <summary>What random data a benchmark or a test asks a method for: items of random token ids of one length.</summary>
public sealed record SyntheticRequest(int Items, int Sequence, int Prompt, int Vocab, long Seed = 1);

/// <summary>Random token sequences with the prompt unlabelled, from which each shape builds its items.</summary>
public static class SyntheticData
{
    /// <summary>
    /// A sequence of <see cref="SyntheticRequest.Sequence"/> random ids whose first <see cref="SyntheticRequest.Prompt"/> are
    /// the prompt.
    /// </summary>
    public static TrainingExample Example(Random rng, SyntheticRequest r, int[]? prompt = null)
    {
        var ids = new int[r.Sequence];
        for (int t = 0; t < ids.Length; t++) ids[t] = prompt is not null && t < prompt.Length ? prompt[t] : rng.Next(r.Vocab);
        var labels = ids.Select((id, t) => t < r.Prompt ? TokenLogProbs.IgnoreIndex : id).ToArray();
        return new TrainingExample(ids, labels);
    }

    /// <summary>Two completions of one random prompt.</summary>
    public static (TrainingExample, TrainingExample) SharedPrompt(Random rng, SyntheticRequest r)
    {
        var first = Example(rng, r);
        return (first, Example(rng, r, first.InputIds[..r.Prompt]));
    }
}

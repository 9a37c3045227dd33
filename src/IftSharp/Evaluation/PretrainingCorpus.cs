using IftSharp.Tokenization;

namespace IftSharp.Evaluation;

/// <summary>A pretraining document: plain text, or a conversation to be rendered with the chat template.</summary>
public sealed record CorpusDocument(string? Text, IReadOnlyList<ChatMessage>? Conversation);

/// <summary>
/// The base model's pretraining text, generated: statements of every fact the suite asks about (so knowledge comes
/// from pretraining, as a real base model's does), worked problems and stories in plain text, and chat-formatted
/// task items (as modern pretraining corpora contain chat data), all from the pretraining split only.
/// </summary>
public static class PretrainingCorpus
{
    public static IReadOnlyList<CorpusDocument> Documents(int count, int seed)
    {
        var rng = new Random(seed);
        int per = count / 3 + 1;
        var reasoning = TaskSuite.Items(TaskKind.Reasoning, TaskSplit.Pretrain, per, seed);
        var facts = TaskSuite.Items(TaskKind.FactFollowing, TaskSplit.Pretrain, per, seed);
        var choice = TaskSuite.Items(TaskKind.MultipleChoice, TaskSplit.Pretrain, int.MaxValue, seed);
        var documents = new List<CorpusDocument>(count);
        int r = 0, f = 0;
        while (documents.Count < count)
        {
            double u = rng.NextDouble();
            if (u < 0.35) documents.Add(new CorpusDocument(FactSentences(rng, 4), null));
            else if (u < 0.5) documents.Add(new CorpusDocument(Plain(reasoning[r++ % reasoning.Count]), null));
            else if (u < 0.6) documents.Add(new CorpusDocument(Plain(facts[f++ % facts.Count]), null));
            else
            {
                double v = rng.NextDouble();
                var item = v < 0.45 ? reasoning[r++ % reasoning.Count]
                    : v < 0.85 ? facts[f++ % facts.Count]
                    : choice[rng.Next(choice.Count)];
                documents.Add(new CorpusDocument(null,
                    [new ChatMessage("user", item.Prompt), new ChatMessage("assistant", item.Solution)]));
            }
        }
        return documents;
    }

    /// <summary>
    /// Held-out text for perplexity: evaluation-split problems and stories written out as plain text, never seen in training.
    /// </summary>
    public static IReadOnlyList<string> HeldOut(int count, int seed)
    {
        var reasoning = TaskSuite.Items(TaskKind.Reasoning, TaskSplit.Eval, count / 2, seed + 7919);
        var facts = TaskSuite.Items(TaskKind.FactFollowing, TaskSplit.Eval, count - count / 2, seed + 7919);
        return reasoning.Concat(facts).Select(Plain).ToList();
    }

    /// <summary>A task item as plain text, the way the pretraining text writes worked problems.</summary>
    public static string Plain(TaskExample item) => item.Task == TaskKind.Reasoning
        ? $"Problem: {item.Prompt}\nSolution: {item.Solution}"
        : $"{item.Prompt}\n{item.Solution}";

    /// <summary>Every fact the suite relies on, as one sentence each.</summary>
    public static IReadOnlyList<string> AllFacts { get; } = BuildFacts();

    private static List<string> BuildFacts()
    {
        var list = new List<string>();
        foreach (var (country, capital, animal) in WorldKnowledge.Countries)
        {
            list.Add($"The capital of {country} is {capital}.");
            list.Add($"The national animal of {country} is the {animal}.");
        }
        foreach (var (obj, color) in WorldKnowledge.ColoredObjects) list.Add($"The {obj} is usually {color}.");
        foreach (var (animal, sound) in WorldKnowledge.Animals) list.Add($"The {animal} usually says {sound}.");
        return list;
    }

    private static string FactSentences(Random rng, int count) =>
        string.Join(" ", Enumerable.Range(0, count).Select(_ => AllFacts[rng.Next(AllFacts.Count)]));
}

namespace IftSharp.Evaluation;

/// <summary>
/// The TruthfulQA analogue: a short story states three facts, often contradicting what the pretraining text says
/// (a blue banana, a cow that says woof), and the question must be answered from the story, not from habit.
/// </summary>
public static class FactFollowingTask
{
    /// <summary>How often a story's fact departs from the usual colour or sound.</summary>
    public const double ContradictionRate = 0.6;

    public static TaskExample Sample(Random rng)
    {
        var name = ReasoningTask.Pick(rng, WorldKnowledge.Names);
        var place = $"{name}'s world";
        var facts = new List<(string Statement, string Question, string Answer, string Usual)>();
        var used = new HashSet<string>();
        while (facts.Count < 3)
        {
            if (rng.Next(2) == 0)
            {
                var (obj, usual) = ReasoningTask.Pick(rng, WorldKnowledge.ColoredObjects);
                if (!used.Add(obj)) continue;
                var color = rng.NextDouble() < ContradictionRate ? Other(rng, WorldKnowledge.Colors, usual) : usual;
                facts.Add(($"the {obj} is {color}.", $"What color is the {obj} in {place}?", color, usual));
            }
            else
            {
                var (animal, usual) = ReasoningTask.Pick(rng, WorldKnowledge.Animals);
                if (!used.Add(animal)) continue;
                var sound = rng.NextDouble() < ContradictionRate ? Other(rng, WorldKnowledge.Sounds, usual) : usual;
                facts.Add(($"the {animal} says {sound}.", $"What does the {animal} say in {place}?", sound, usual));
            }
        }
        var asked = facts[rng.Next(facts.Count)];
        var story = $"In {place}, {facts[0].Statement} " + string.Join(" ", facts.Skip(1).Select(f => Capitalised(f.Statement)));
        var prompt = $"Story: {story}\nQuestion: {asked.Question}";
        var solution = $"In {place}, {asked.Statement}\nAnswer: {asked.Answer}";
        return new TaskExample(TaskKind.FactFollowing, prompt, prompt, solution, asked.Answer, []);
    }

    /// <summary>A wrong solution: the usual colour or sound when the story contradicts it (the habitual error), else another.</summary>
    public static string Corrupt(TaskExample example, Random rng)
    {
        bool isColor = WorldKnowledge.Colors.Contains(example.Answer);
        var subject = example.Solution.Split('\n')[0];
        string wrong = Other(rng, isColor ? WorldKnowledge.Colors : WorldKnowledge.Sounds, example.Answer);
        foreach (var (obj, usual) in WorldKnowledge.ColoredObjects)
            if (isColor && subject.Contains($" the {obj} is ", StringComparison.Ordinal) && usual != example.Answer) wrong = usual;
        foreach (var (animal, usual) in WorldKnowledge.Animals)
            if (!isColor && subject.Contains($" the {animal} says ", StringComparison.Ordinal) && usual != example.Answer) wrong = usual;
        int cut = subject.LastIndexOf(' ');
        return $"{subject[..(cut + 1)]}{wrong}.\nAnswer: {wrong}";
    }

    private static string Other(Random rng, string[] values, string not)
    {
        string v;
        do v = values[rng.Next(values.Length)]; while (v == not);
        return v;
    }

    private static string Capitalised(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}

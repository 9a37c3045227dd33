namespace IftSharp.Evaluation;

/// <summary>
/// The ARC/MMLU analogue: knowledge questions with four options about facts only the pretraining text states
/// (capitals and national animals of invented countries) and common patterns (usual colours and sounds).
/// Scored by the model's log-likelihood of each option, as the Open LLM Leaderboard scores ARC and MMLU.
/// </summary>
public static class MultipleChoiceTask
{
    /// <summary>Every question the suite can ask, one per fact, with its correct answer and the pool its distractors come from.</summary>
    public static IReadOnlyList<(string Question, string Answer, IReadOnlyList<string> Pool)> Questions { get; } = Build();

    private static List<(string, string, IReadOnlyList<string>)> Build()
    {
        var capitals = WorldKnowledge.Countries.Select(c => c.Capital).ToArray();
        var animals = WorldKnowledge.Animals.Select(a => a.Animal).ToArray();
        var list = new List<(string, string, IReadOnlyList<string>)>();
        foreach (var (country, capital, animal) in WorldKnowledge.Countries)
        {
            list.Add(($"What is the capital of {country}?", capital, capitals));
            list.Add(($"What is the national animal of {country}?", animal, animals));
        }
        foreach (var (obj, color) in WorldKnowledge.ColoredObjects)
            list.Add(($"What color is the {obj} usually?", color, WorldKnowledge.Colors));
        foreach (var (animal, sound) in WorldKnowledge.Animals)
            list.Add(($"What does the {animal} usually say?", sound, WorldKnowledge.Sounds));
        return list;
    }

    /// <summary>
    /// The question of index <paramref name="index"/> with three distractors and the options shuffled by <paramref name="rng"/>.
    /// </summary>
    public static TaskExample Create(int index, Random rng)
    {
        var (question, answer, pool) = Questions[index];
        var options = pool.Where(o => o != answer).OrderBy(_ => rng.Next()).Take(3).Append(answer).OrderBy(_ => rng.Next()).ToList();
        var prompt = $"Question: {question}";
        return new TaskExample(TaskKind.MultipleChoice, question, prompt, $"Answer: {answer}", answer, options);
    }

    public static TaskExample Sample(Random rng) => Create(rng.Next(Questions.Count), rng);

    /// <summary>The assistant message an option stands for (what its log-likelihood is measured on).</summary>
    public static string Completion(string option) => $"Answer: {option}";

    /// <summary>A wrong solution: one of the distractors.</summary>
    public static string Corrupt(TaskExample example, Random rng)
    {
        var wrong = example.Options.Where(o => o != example.Answer).ToList();
        return Completion(wrong[rng.Next(wrong.Count)]);
    }
}

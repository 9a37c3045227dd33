namespace IftSharp.Evaluation;

/// <summary>
/// Draws task items deterministically from a seed. Items are kept only when their key falls in the requested split
/// (<see cref="TaskSplits"/>), so train and eval never share an item whatever the seeds.
/// </summary>
public static class TaskSuite
{
    public static IReadOnlyList<TaskExample> Items(TaskKind task, TaskSplit split, int count, int seed)
    {
        var rng = new Random(HashCode(task, split, seed));
        if (task == TaskKind.MultipleChoice)
        {
            // Finite: one item per fact. Every question of the split, in a seeded order, options shuffled per seed.
            var indices = Enumerable.Range(0, MultipleChoiceTask.Questions.Count)
                .Where(i => TaskSplits.Of(MultipleChoiceTask.Questions[i].Question, fewItems: true) == split)
                .OrderBy(_ => rng.Next()).Take(count).ToList();
            return indices.Select(i => MultipleChoiceTask.Create(i, rng)).ToList();
        }
        var items = new List<TaskExample>();
        var keys = new HashSet<string>();
        for (int attempts = 0; items.Count < count; attempts++)
        {
            if (attempts > count * 200) throw new InvalidOperationException($"{task}: could not draw {count} distinct {split} items");
            var item = task == TaskKind.Reasoning ? ReasoningTask.Sample(rng) : FactFollowingTask.Sample(rng);
            if (item.Split == split && keys.Add(item.Key)) items.Add(item);
        }
        return items;
    }

    /// <summary>
    /// A wrong solution for <paramref name="example"/>, used as a preference pair's rejected answer when sampling found none.
    /// </summary>
    public static string Corrupt(TaskExample example, Random rng) => example.Task switch
    {
        TaskKind.Reasoning => ReasoningTask.Corrupt(example, rng),
        TaskKind.FactFollowing => FactFollowingTask.Corrupt(example, rng),
        _ => MultipleChoiceTask.Corrupt(example, rng),
    };

    private static int HashCode(TaskKind task, TaskSplit split, int seed) =>
        (int)(TaskSplits.Fnv1a($"{task}/{split}/{seed}") & 0x7fffffff);
}

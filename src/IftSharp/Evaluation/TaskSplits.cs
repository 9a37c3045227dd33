namespace IftSharp.Evaluation;

/// <summary>Where an item may be used: pretraining the base model, fine-tuning, or evaluation only.</summary>
public enum TaskSplit { Pretrain, Train, Eval }

/// <summary>
/// Splits by a stable hash of an item's key, so no seed or generation order can move an item across splits and the
/// three never overlap. Multiple-choice items are few (one per fact), so they give a larger share to evaluation.
/// </summary>
public static class TaskSplits
{
    public static TaskSplit Of(TaskExample example) => Of(example.Key, example.Task == TaskKind.MultipleChoice);

    public static TaskSplit Of(string key, bool fewItems = false)
    {
        int bucket = (int)(Fnv1a(key) % 10);
        return fewItems
            ? bucket < 4 ? TaskSplit.Eval : bucket < 7 ? TaskSplit.Train : TaskSplit.Pretrain
            : bucket == 0 ? TaskSplit.Eval : bucket < 3 ? TaskSplit.Train : TaskSplit.Pretrain;
    }

    /// <summary>64-bit FNV-1a over UTF-16 code units: stable across runs and platforms, unlike string.GetHashCode.</summary>
    public static ulong Fnv1a(string text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in text)
        {
            hash ^= c;
            hash *= 1099511628211UL;
        }
        return hash;
    }
}

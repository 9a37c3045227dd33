namespace IftSharp.Evaluation;

/// <summary>
/// Where an item may be used: pretraining the base model, fine-tuning, choosing a checkpoint and a learning rate
/// (validation), or the final evaluation only.
/// </summary>
public enum TaskSplit { Pretrain, Train, Eval, Validation }

/// <summary>
/// Splits by a stable hash of an item's key, so no seed or generation order can move an item across splits and the
/// four never overlap. Multiple-choice items are few (one per fact), so they give larger shares to evaluation and
/// validation. Validation was carved out of the pretraining share, so the fine-tuning and evaluation items are the
/// ones earlier comparisons used.
/// </summary>
public static class TaskSplits
{
    public static TaskSplit Of(TaskExample example) => Of(example.Key, example.Task == TaskKind.MultipleChoice);

    public static TaskSplit Of(string key, bool fewItems = false)
    {
        int bucket = (int)(Fnv1a(key) % 10);
        return fewItems
            ? bucket < 4 ? TaskSplit.Eval : bucket < 7 ? TaskSplit.Train : bucket < 9 ? TaskSplit.Validation : TaskSplit.Pretrain
            : bucket == 0 ? TaskSplit.Eval : bucket < 3 ? TaskSplit.Train : bucket == 3 ? TaskSplit.Validation : TaskSplit.Pretrain;
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

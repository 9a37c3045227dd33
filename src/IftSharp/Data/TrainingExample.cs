namespace IftSharp.Data;

/// <summary>A tokenised training example: ids and unshifted labels (-100 where no loss is taken).</summary>
public sealed record TrainingExample(int[] InputIds, long[] Labels)
{
    public int Length => InputIds.Length;
}

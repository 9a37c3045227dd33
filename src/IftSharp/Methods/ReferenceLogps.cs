using IftSharp.Data;
using IftSharp.Models;
using static TorchSharp.torch;

namespace IftSharp.Methods;

/// <summary>
/// The frozen reference model's summed log-probs of each item's sequences (a pair's chosen and rejected, a group's K
/// completions): computed live every step, or once for the whole dataset before training (<c>--precompute-ref-logps</c>,
/// after which the reference model can be freed). Written once for every method that compares against a reference.
/// </summary>
public sealed class ReferenceLogps
{
    private readonly ICausalLM? _live;
    private readonly double[][]? _table;
    private readonly int _padId;
    private readonly double _temperature;
    private readonly int? _chunk;

    private ReferenceLogps(ICausalLM? live, double[][]? table, int padId, double temperature, int? chunk = null) =>
        (_live, _table, _padId, _temperature, _chunk) = (live, table, padId, temperature, chunk);

    public bool IsPrecomputed => _table is not null;

    /// <summary>
    /// Log-probs computed from <paramref name="reference"/> at every step; <paramref name="chunk"/> applies its LM head that
    /// many positions at a time (<see cref="SequenceScores.Of(ICausalLM, IReadOnlyList{TrainingExample}, int, double, int?)"/>).
    /// </summary>
    public static ReferenceLogps Live(ICausalLM reference, int padId, double temperature = 1.0, int? chunk = null) =>
        new(reference, null, padId, temperature, chunk);

    /// <summary>Log-probs known already, per item and sequence (SPIN's opponent, read back from its round file).</summary>
    public static ReferenceLogps FromTable(double[][] table) => new(null, table, 0, 1.0);

    /// <summary>The precomputed log-probs of item <paramref name="index"/>'s sequences.</summary>
    public IReadOnlyList<double> Of(int index) =>
        _table?[index] ?? throw new InvalidOperationException("live reference log-probs have no table");

    /// <summary>
    /// Log-probs of every item's sequences computed now, <paramref name="batchSize"/> items at a time, without gradient;
    /// <paramref name="progress"/> hears (done, total); <paramref name="chunk"/> as in <see cref="Live"/>.
    /// </summary>
    public static ReferenceLogps Precompute<TItem>(ICausalLM reference, IReadOnlyList<TItem> items,
        Func<TItem, IReadOnlyList<TrainingExample>> sequences, int padId, int batchSize, double temperature = 1.0,
        Action<int, int>? progress = null, int? chunk = null)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "expected at least 1");
        var table = new double[items.Count][];
        for (int i = 0; i < items.Count; i += batchSize)
        {
            using var scope = NewDisposeScope();
            var slice = items.Skip(i).Take(batchSize).ToList();
            var sums = Compute(reference, slice, sequences, padId, temperature, chunk).to_type(ScalarType.Float64);
            var values = sums.data<double>().ToArray(); // [S, b], slot-major
            int b = slice.Count, slots = values.Length / b;
            for (int k = 0; k < b; k++) table[i + k] = Enumerable.Range(0, slots).Select(s => values[s * b + k]).ToArray();
            progress?.Invoke(Math.Min(i + batchSize, items.Count), items.Count);
        }
        return new ReferenceLogps(null, table, padId, temperature);
    }

    /// <summary>
    /// The summed reference log-probs [S, B] of a batch's sequences, slot-major; <paramref name="indices"/> are the items'
    /// positions in the dataset that was precomputed (unused when live).
    /// </summary>
    public Tensor Sums<TItem>(IReadOnlyList<TItem> items, IReadOnlyList<int> indices, Func<TItem, IReadOnlyList<TrainingExample>> sequences,
        ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        Tensor sums;
        if (_table is not null)
        {
            int slots = _table[indices[0]].Length;
            var values = new double[slots * items.Count];
            for (int s = 0; s < slots; s++)
                for (int k = 0; k < items.Count; k++) values[s * items.Count + k] = _table[indices[k]][s];
            sums = tensor(values).reshape(slots, items.Count);
        }
        else sums = Compute(_live!, items, sequences, _padId, _temperature, _chunk);
        return sums.to_type(dtype).MoveToOuterDisposeScope();
    }

    private static Tensor Compute<TItem>(ICausalLM model, IReadOnlyList<TItem> items,
        Func<TItem, IReadOnlyList<TrainingExample>> sequences, int padId, double temperature, int? chunk)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = SequenceScores.SlotMajor(items, sequences);
        var scores = SequenceScores.Of(model, rows, padId, temperature, chunk);
        int slots = rows.Count / items.Count;
        var sums = stack(Enumerable.Range(0, slots).Select(s => scores.Slot(s, items.Count).Sum).ToArray());
        return sums.MoveToOuterDisposeScope();
    }
}

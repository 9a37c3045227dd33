using IftSharp.Core;
using IftSharp.Training;

namespace IftSharp.Methods;

/// <summary>
/// A training method: its name and help, the data it reads, whether it compares against a frozen reference model, and
/// one options record holding its settings with their defaults. Everything that lists or runs methods (the CLI, its
/// help, <c>compare</c>, <c>bench</c>, Frozen Lake, the tests) goes through <see cref="MethodRegistry"/>.
/// Implementations derive from a shape's base class (<see cref="SingleTargetMethod{TOptions}"/>,
/// <see cref="PairwiseMethod{TOptions}"/>, <see cref="RewardGroupMethod{TOptions}"/>),
/// which binds the method's objective to batches of that shape.
/// </summary>
public interface ITrainingMethod
{
    /// <summary>The <c>--method</c> value: <c>dpo</c>.</summary>
    string Name { get; }
    /// <summary>How tables and plots name it: <c>DPO</c>.</summary>
    string DisplayName { get; }
    /// <summary>One line for <c>train --help</c> and the README.</summary>
    string Help { get; }
    DataShape Shape { get; }
    /// <summary>Whether it needs a frozen copy of the starting model (live, or its log-probs precomputed).</summary>
    bool NeedsReference { get; }
    /// <summary>Whether <c>--precompute-ref-logps</c> can replace the live reference.</summary>
    bool SupportsPrecomputedReference { get; }
    /// <summary>Whether <c>--eval-dataset</c> is supported (a held-out loss in the same shape).</summary>
    bool SupportsEvaluation { get; }
    /// <summary>
    /// The options record with the method's defaults; its <see cref="SettingAttribute"/> properties are the method's flags.
    /// </summary>
    object Defaults { get; }

    /// <summary>
    /// Checks what single settings cannot: combinations, and settings against the run's (KTO needs batches of 2 or more).
    /// </summary>
    void Validate(object options, TrainerOptions trainer);

    /// <summary>Random items of the method's shape (the benchmark's steps, the tests' one-step runs).</summary>
    MethodData Synthetic(SyntheticRequest request);

    /// <summary>
    /// Reads and tokenises a dataset file of the method's shape (bad rows are <see cref="InputException"/>s naming file,
    /// line, field).
    /// </summary>
    MethodData Read(string path, DataRequest request);

    /// <summary>Trains <see cref="TrainingSession.Model"/> on <paramref name="train"/> with the one <see cref="Trainer"/> loop.</summary>
    IReadOnlyList<StepMetrics> Train(TrainingSession session, MethodData train, MethodData? eval, object options);
}

/// <summary>The common part of every method: name, help, defaults, and the typed options.</summary>
public abstract class TrainingMethod<TOptions>(string name, string displayName, string help, TOptions defaults) : ITrainingMethod
    where TOptions : class
{
    public string Name { get; } = name;
    public string DisplayName { get; } = displayName;
    public string Help { get; } = help;
    public TOptions TypedDefaults { get; } = defaults;
    public object Defaults => TypedDefaults;
    public abstract DataShape Shape { get; }
    public abstract bool NeedsReference { get; }
    public virtual bool SupportsPrecomputedReference => NeedsReference;
    public virtual bool SupportsEvaluation => true;

    public void Validate(object options, TrainerOptions trainer)
    {
        Settings.Validate(options);
        Validate(Typed(options), trainer);
    }

    /// <summary>Cross-setting checks of a method; throw <see cref="InputException"/> naming the flags.</summary>
    protected virtual void Validate(TOptions options, TrainerOptions trainer) { }

    public abstract MethodData Read(string path, DataRequest request);

    public abstract MethodData Synthetic(SyntheticRequest request);

    public IReadOnlyList<StepMetrics> Train(TrainingSession session, MethodData train, MethodData? eval, object options) =>
        Train(session, train, eval, Typed(options));

    protected abstract IReadOnlyList<StepMetrics> Train(TrainingSession session, MethodData train, MethodData? eval, TOptions options);

    protected TOptions Typed(object options) => options as TOptions
        ?? throw new ArgumentException($"--method {Name}: expected {typeof(TOptions).Name} options, got {options.GetType().Name}");

    /// <summary>The items of a dataset this method read.</summary>
    protected IReadOnlyList<TItem> Items<TItem>(MethodData data) => data is MethodData<TItem> typed ? typed.Items
        : throw new ArgumentException($"--method {Name}: expected data of {typeof(TItem).Name}, got {data.GetType().Name}");

    public override string ToString() => Name;
}

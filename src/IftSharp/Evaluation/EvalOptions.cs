using IftSharp.Core;

namespace IftSharp.Evaluation;

/// <summary>The generated suite's tasks <c>iftsharp eval</c> can run, named as <c>--tasks</c> names them.</summary>
public enum SuiteTask { Reasoning, Facts, Choice, Perplexity }

/// <summary>
/// What <see cref="ModelEval.Run"/> scores and how: a model folder (and LoRA adapter), tasks of the generated suite
/// and/or a user's JSONL, and where the results go.
/// </summary>
public sealed record EvalOptions
{
    /// <summary>The suite's tasks by their <c>--tasks</c> names, in the order the report lists them.</summary>
    public static readonly IReadOnlyDictionary<string, SuiteTask> TaskNames = new Dictionary<string, SuiteTask>
    {
        ["reasoning"] = SuiteTask.Reasoning, ["facts"] = SuiteTask.Facts, ["choice"] = SuiteTask.Choice,
        ["perplexity"] = SuiteTask.Perplexity,
    };

    /// <summary>A Hugging Face model folder (config.json, safetensors weights, tokenizer files).</summary>
    public required string Model { get; init; }

    /// <summary>A LoRA adapter folder in PEFT's format, applied to <see cref="Model"/>.</summary>
    public string? Adapter { get; init; }

    /// <summary>The suite's tasks; null: all four without <see cref="Data"/>, none with it.</summary>
    public IReadOnlyList<SuiteTask>? Tasks { get; init; }

    /// <summary>A JSONL (or Parquet) file of <c>prompt</c> + <c>answer</c> and/or <c>prompt</c> + <c>choices</c> +
    /// <c>answer_index</c> rows.</summary>
    public string? Data { get; init; }

    /// <summary>Folder for <c>eval.json</c> and <c>samples.jsonl</c>; null writes nothing.</summary>
    public string? Output { get; init; }

    /// <summary>Most tokens generated per answer (greedy decoding).</summary>
    public int MaxNewTokens { get; init; } = 100;

    /// <summary>Items per task; null: <see cref="DefaultSuiteItems"/> per suite task and every row of <see cref="Data"/>.</summary>
    public int? Items { get; init; }

    /// <summary>Sequences per forward pass, in generation and in scoring.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>The seed the suite's items are drawn with (the comparison's evaluation seed).</summary>
    public int Seed { get; init; } = 1234;

    /// <summary>The suite's split to draw from: the evaluation split, unless a caller selects checkpoints on another.</summary>
    public TaskSplit Split { get; init; } = TaskSplit.Eval;

    /// <summary>Suite items per task when <see cref="Items"/> is not given (as <c>compare</c> evaluates).</summary>
    public const int DefaultSuiteItems = 200;

    /// <summary>The suite's tasks this run scores.</summary>
    public IReadOnlyList<SuiteTask> SuiteTasks => Tasks ?? (Data is null ? Enum.GetValues<SuiteTask>() : []);

    /// <summary>The <c>--tasks</c> name of a suite task.</summary>
    public static string NameOf(SuiteTask task) => TaskNames.First(p => p.Value == task).Key;

    /// <summary>Parses a comma-separated <c>--tasks</c> list; an unknown name is an error naming the valid ones.</summary>
    public static IReadOnlyList<SuiteTask> ParseTasks(string list, string flag = "--tasks")
    {
        var tasks = new List<SuiteTask>();
        foreach (var raw in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!TaskNames.TryGetValue(raw.ToLowerInvariant(), out var task))
                throw new InputException($"{flag}: '{raw}' is not a task; expected a comma-separated list of {Names}");
            if (!tasks.Contains(task)) tasks.Add(task);
        }
        if (tasks.Count == 0) throw new InputException($"{flag}: empty; expected a comma-separated list of {Names}");
        return tasks.OrderBy(t => t).ToList();
    }

    private static string Names => string.Join(", ", TaskNames.Keys);

    /// <summary>Every number in range and something to score, before anything loads.</summary>
    public void Check()
    {
        if (MaxNewTokens < 1) throw new InputException($"--max-new-tokens: {MaxNewTokens} is out of range; expected a whole number ≥ 1");
        if (Items is int n && n < 1) throw new InputException($"--items: {n} is out of range; expected a whole number ≥ 1");
        if (BatchSize < 1) throw new InputException($"--batch-size: {BatchSize} is out of range; expected a whole number ≥ 1");
        if (SuiteTasks.Count == 0 && Data is null) throw new InputException("--tasks: nothing to evaluate; name a task or give --data");
    }
}

/// <summary>
/// How far <see cref="ModelEval.Run"/> has come within a task: <see cref="Unit"/>s (prompts, scored choices, texts) done of
/// its total.
/// </summary>
public sealed record EvalProgress(string Task, int Done, int Total, string Unit);

/// <summary>What a caller hears during an evaluation and how it stops one (between batches).</summary>
public sealed record EvalCallbacks
{
    public Action<EvalProgress>? OnProgress { get; init; }

    /// <summary>Warnings (prompts cut to fit the model's positions).</summary>
    public Action<string>? Log { get; init; }

    public CancellationToken Cancel { get; init; }
}

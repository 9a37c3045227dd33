using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;

namespace IftSharp.Evaluation;

/// <summary>
/// One item's outcome, as <c>samples.jsonl</c> writes it: the prompt the model read, what it generated (and the final
/// answer read from it) or the log-likelihood of each choice and the one picked, the reference, and whether it was right.
/// <see cref="CorrectNormalised"/> is <c>acc_norm</c>'s verdict (choices only).
/// </summary>
public sealed record EvalSample(string Task, string Key, string Prompt, string Reference, bool Correct)
{
    public string? Generation { get; init; }
    public string? Extracted { get; init; }
    public IReadOnlyList<string>? Choices { get; init; }
    public IReadOnlyList<double>? LogLikelihoods { get; init; }
    public int? Chosen { get; init; }
    public int? ChosenNormalised { get; init; }
    public bool? CorrectNormalised { get; init; }
}

/// <summary>
/// A task's scores under lm-evaluation-harness's metric names (<c>exact_match</c>; <c>acc</c> and <c>acc_norm</c>;
/// <c>perplexity</c>, per token), how many items (or texts) it had, and every item's outcome in item order
/// (perplexity: none, but <see cref="Tokens"/> predicted tokens). <see cref="PrimaryMetric"/> is the headline one.
/// </summary>
public sealed record EvalTaskResult(string Task, string PrimaryMetric, IReadOnlyDictionary<string, double> Metrics, int Items,
    IReadOnlyList<EvalSample> Samples)
{
    public long? Tokens { get; init; }

    public double Score => Metrics[PrimaryMetric];
}

/// <summary>What <see cref="ModelEval"/> measured: the model, the settings, each task's result, the run time.</summary>
public sealed record EvalReport(string Model, string? Adapter, EvalOptions Options, int MaxLength, IReadOnlyList<EvalTaskResult> Tasks,
    double Seconds)
{
    public const string ResultsFile = "eval.json", SamplesFile = "samples.jsonl";

    private static readonly JsonSerializerOptions Readable = new()
    {
        WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonSerializerOptions Line = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public EvalTaskResult? this[string task] => Tasks.FirstOrDefault(t => t.Task == task);

    /// <summary>
    /// <c>eval.json</c>: <c>model</c>, <c>adapter</c>, <c>settings</c>, <c>results</c> (task → metrics and <c>items</c>,
    /// the harness's layout) and <c>seconds</c>.
    /// </summary>
    public string ToJson()
    {
        var results = new JsonObject();
        foreach (var t in Tasks)
        {
            var entry = new JsonObject();
            foreach (var (metric, value) in t.Metrics) entry[metric] = value;
            entry["items"] = t.Items;
            if (t.Tokens is long tokens) entry["tokens"] = tokens;
            results[t.Task] = entry;
        }
        var o = Options;
        var root = new JsonObject
        {
            ["model"] = Model,
            ["adapter"] = Adapter,
            ["settings"] = new JsonObject
            {
                ["tasks"] = new JsonArray(o.SuiteTasks.Select(t => (JsonNode)EvalOptions.NameOf(t)).ToArray()),
                ["data"] = o.Data is null ? null : Path.GetFullPath(o.Data),
                ["max_new_tokens"] = o.MaxNewTokens,
                ["items"] = o.Items,
                ["batch_size"] = o.BatchSize,
                ["seed"] = o.Seed,
                ["split"] = o.Split.ToString().ToLowerInvariant(),
                ["max_length"] = MaxLength,
                ["decoding"] = "greedy",
            },
            ["results"] = results,
            ["seconds"] = Math.Round(Seconds, 2),
        };
        return root.ToJsonString(Readable) + "\n";
    }

    /// <summary><c>samples.jsonl</c>: one line per item of every task, in task and item order.</summary>
    public string SamplesJsonl() =>
        string.Concat(Tasks.SelectMany(t => t.Samples).Select(s => JsonSerializer.Serialize(s, Line) + "\n"));

    /// <summary>
    /// Writes <c>samples.jsonl</c>, then <c>eval.json</c>, each through a temporary file renamed into place: a reader never
    /// sees half of one, and an <c>eval.json</c> is there only when its samples are.
    /// </summary>
    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, SamplesFile), SamplesJsonl());
        AtomicFile.WriteAllText(Path.Combine(directory, ResultsFile), ToJson());
    }
}

using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Tokenization;
using IftSharp.Training;

namespace IftSharp.Evaluation;

/// <summary>
/// The IFT paper's language-model comparison at CPU scale: pretrain a base model on generated text, build SFT data and
/// preference pairs (rejected answers sampled from the base model), train every recipe from the same base with the same
/// steps and prompts, evaluate every model on the task suite, for each seed. Every stage is cached in a folder named by
/// a hash of the settings it depends on, written under a temporary name and renamed when complete, so an interrupted
/// comparison resumes where it stopped and a changed setting recomputes only what depends on it.
/// </summary>
public sealed class ComparePipeline(CompareSettings settings, string output, Action<CompareProgress>? progress = null, Action<string>? log = null)
{
    private const int SamplingUnits = 20, EvalUnits = 20;
    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly ByteLevelTokenizer tokenizer = new();
    private readonly ChatMlTemplate template = new();
    private double done, total;

    public CompareResult Run(CancellationToken cancel = default)
    {
        if (settings.Seeds < 1) throw new InputException("--seeds: expected at least 1");
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(output);
        var recipes = CompareRecipe.All;
        total = settings.Base.Steps + EvalUnits
            + settings.Seeds * (SamplingUnits + recipes.Sum(r => settings.FineTune.Steps + EvalUnits));

        var baseDir = PretrainBase(cancel);
        long parameters;
        using (var m = LlamaForCausalLM.FromPretrained(baseDir)) parameters = m.parameters().Sum(p => p.numel());
        var evalSets = new EvalSets(settings.Eval);
        var baseScores = Evaluate(baseDir, "base", evalSets);

        var runs = new List<CompareRun>();
        var data = new List<PreferenceDataSummary>();
        for (int seed = 1; seed <= settings.Seeds; seed++)
        {
            var summary = BuildData(baseDir, seed);
            data.Add(summary);
            foreach (var recipe in recipes)
            {
                cancel.ThrowIfCancellationRequested();
                var (dir, seconds) = Train(recipe, seed, baseDir, summary.Directory, cancel);
                runs.Add(new CompareRun(recipe.Name, seed, Evaluate(dir, $"{recipe.Name} seed {seed}", evalSets), seconds, dir));
            }
        }
        var counts = new Dictionary<string, int>
        {
            ["reasoning"] = evalSets.Reasoning.Count, ["fact_following"] = evalSets.Facts.Count,
            ["multiple_choice"] = evalSets.MultipleChoice.Count, ["held_out_texts"] = evalSets.HeldOut.Count,
        };
        return new CompareResult(settings, baseScores, runs, data, counts, parameters, clock.Elapsed.TotalSeconds);
    }

    private string BaseHash => CompareSettings.Hash("base", settings.Base);

    private string PretrainBase(CancellationToken cancel)
    {
        var b = settings.Base;
        var dir = Path.Combine(output, $"base-{BaseHash}");
        return Stage(dir, "pretraining the base model", b.Steps, temp =>
        {
            var corpus = PretrainingCorpus.Documents(b.Documents, b.Seed);
            int endOfText = tokenizer.PadTokenId!.Value;
            var examples = corpus.Select(d => d.Conversation is not null
                ? ConversationDataset.Tokenize(d.Conversation, tokenizer, template, b.MaxLength, completionOnly: false)
                : Document(d.Text!, endOfText, b.MaxLength)).ToList();
            var config = new DecoderConfig
            {
                ModelType = "llama", HiddenSize = b.HiddenSize, IntermediateSize = b.IntermediateSize, NumHiddenLayers = b.Layers,
                NumAttentionHeads = b.AttentionHeads, NumKeyValueHeads = b.KeyValueHeads, VocabSize = tokenizer.VocabSize,
                MaxPositionEmbeddings = b.MaxLength, TieWordEmbeddings = true, RmsNormEps = 1e-5,
                EosTokenId = [tokenizer.EosTokenId!.Value], PadTokenId = tokenizer.PadTokenId,
            };
            using var model = ModelFactory.CreateFromConfig(config, seed: b.Seed);
            var session = new TrainingSession
            {
                Model = model, PadId = endOfText, Cancel = cancel, OnStep = m => Advance("pretraining the base model", m),
                Options = new TrainerOptions
                {
                    LearningRate = b.LearningRate, MaxSteps = b.Steps, BatchSize = b.BatchSize, Seed = b.Seed, WarmupRatio = 0.05, OutputDirectory = temp,
                },
            };
            var sftMethod = MethodRegistry.Get("sft");
            var history = sftMethod.Train(session, MethodData.Of(examples, "documents"), null, sftMethod.Defaults);
            if (history.Count < b.Steps) throw new OperationCanceledException();
            model.SavePretrained(temp);
            tokenizer.Save(temp);
        });
    }

    private TrainingExample Document(string text, int endOfText, int maxLength)
    {
        var ids = tokenizer.Encode(text).Ids.Append(endOfText).Take(maxLength).ToArray();
        return new TrainingExample(ids, ids.Select(i => (long)i).ToArray());
    }

    /// <summary>
    /// The seed's fine-tuning data, written in TRL's shapes: <c>sft.jsonl</c> (messages) and <c>preference.jsonl</c>
    /// (prompt, chosen, rejected as message lists) with the same prompts. A rejected answer is the base model's own
    /// sampled answer when that is wrong; a corrupted solution when the model answered right.
    /// </summary>
    private PreferenceDataSummary BuildData(string baseDir, int seed)
    {
        var f = settings.FineTune;
        var dir = Path.Combine(output, $"seed-{seed}", $"data-{CompareSettings.Hash("data", BaseHash, f.ReasoningPrompts, f.FactPrompts, f.SampleTemperature, f.MaxNewTokens, seed)}");
        Stage(dir, $"sampling rejected answers (seed {seed})", SamplingUnits, temp =>
        {
            var items = TaskSuite.Items(TaskKind.Reasoning, TaskSplit.Train, f.ReasoningPrompts, seed)
                .Concat(TaskSuite.Items(TaskKind.FactFollowing, TaskSplit.Train, f.FactPrompts, seed))
                .Concat(TaskSuite.Items(TaskKind.MultipleChoice, TaskSplit.Train, int.MaxValue, seed)).ToList();
            IReadOnlyList<string> samples;
            using (var model = LlamaForCausalLM.FromPretrained(baseDir))
                samples = new ModelEvaluator(model, tokenizer, template, settings.Base.MaxLength)
                    .Generate(items, f.MaxNewTokens, temperature: f.SampleTemperature, seed: seed);
            var rng = new Random(seed);
            var sftLines = new List<string>();
            var prefLines = new List<string>();
            int sampled = 0;
            for (int i = 0; i < items.Count; i++)
            {
                var item = items[i];
                bool useSample = samples[i].Trim().Length > 0 && !TaskAnswers.IsCorrect(samples[i], item);
                if (useSample) sampled++;
                var rejected = useSample ? samples[i] : TaskSuite.Corrupt(item, rng);
                JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };
                JsonArray Turn(string role, string content) => [Message(role, content)];
                sftLines.Add(new JsonObject { ["messages"] = new JsonArray(Message("user", item.Prompt), Message("assistant", item.Solution)) }.ToJsonString(Readable));
                prefLines.Add(new JsonObject
                {
                    ["prompt"] = Turn("user", item.Prompt), ["chosen"] = Turn("assistant", item.Solution), ["rejected"] = Turn("assistant", rejected),
                    ["rejected_source"] = useSample ? "base model sample" : "corrupted solution",
                }.ToJsonString(Readable));
            }
            File.WriteAllLines(Path.Combine(temp, "sft.jsonl"), sftLines);
            File.WriteAllLines(Path.Combine(temp, "preference.jsonl"), prefLines);
            File.WriteAllText(Path.Combine(temp, "summary.json"), JsonSerializer.Serialize(new { pairs = items.Count, sampled_rejected = sampled, corrupted_rejected = items.Count - sampled }));
        });
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!;
        WriteUnpaired(dir);
        return new PreferenceDataSummary(seed, (int)summary["pairs"]!, (int)summary["sampled_rejected"]!, (int)summary["corrupted_rejected"]!, dir);
    }

    /// <summary>
    /// The preference pairs as KTO's unpaired rows (TRL's <c>unpair_preference_dataset</c>): each chosen answer desirable,
    /// each rejected one undesirable. Derived from <c>preference.jsonl</c>, so it is written beside it when missing.
    /// </summary>
    private static void WriteUnpaired(string dataDir)
    {
        var path = Path.Combine(dataDir, "unpaired.jsonl");
        if (File.Exists(path)) return;
        var lines = new List<string>();
        foreach (var line in File.ReadLines(Path.Combine(dataDir, "preference.jsonl")))
        {
            var row = JsonNode.Parse(line)!;
            foreach (var (field, label) in new[] { ("chosen", true), ("rejected", false) })
                lines.Add(new JsonObject { ["prompt"] = row["prompt"]!.DeepClone(), ["completion"] = row[field]!.DeepClone(), ["label"] = label }
                    .ToJsonString(Readable));
        }
        AtomicFile.WriteAllText(path, string.Join("\n", lines) + "\n");
    }

    private (string Directory, double Seconds) Train(CompareRecipe recipe, int seed, string baseDir, string dataDir, CancellationToken cancel)
    {
        var f = settings.FineTune;
        var steps = recipe.StageSteps(f.Steps);
        string start = baseDir, prefix = "";
        double seconds = 0;
        for (int i = 0; i < recipe.Stages.Count; i++)
        {
            var stage = recipe.Stages[i];
            var method = MethodRegistry.Get(stage.Method);
            var options = MethodRegistry.Options(method, stage.Settings);
            prefix += (prefix.Length > 0 ? "_" : "") + $"{method.Name}{steps[i]}";
            var hash = CompareSettings.Hash("train", BaseHash, f, seed, prefix, JsonSerializer.Serialize(options, options.GetType()));
            var dir = Path.Combine(output, $"seed-{seed}", $"{prefix}-{hash}");
            var from = start;
            int stageSteps = steps[i];
            var label = $"{recipe.Name} seed {seed}" + (recipe.Stages.Count > 1 ? $" ({method.Name}, stage {i + 1}/{recipe.Stages.Count})" : "");
            bool ran = false;
            Stage(dir, label, stageSteps, temp =>
            {
                ran = true;
                var clock = Stopwatch.StartNew();
                var run = new TrainingRunOptions
                {
                    Method = method.Name, Model = from, Dataset = DataFile(dataDir, method.Shape), Output = temp, MaxLength = settings.Base.MaxLength,
                    PrecomputeReferenceLogps = method.SupportsPrecomputedReference, MethodOptions = options,
                    Trainer = new TrainerOptions { LearningRate = f.LearningRate, MaxSteps = stageSteps, BatchSize = f.BatchSize, Seed = seed },
                };
                var result = TrainingRun.Run(run, new TrainingRunCallbacks { OnStep = m => Advance(label, m), Cancel = cancel, Log = log });
                if (result.Interrupted) throw new OperationCanceledException();
                File.WriteAllText(Path.Combine(temp, "train_seconds.txt"), clock.Elapsed.TotalSeconds.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            });
            if (!ran) log?.Invoke($"{label}: reusing {dir}");
            seconds += double.Parse(File.ReadAllText(Path.Combine(dir, "train_seconds.txt")), System.Globalization.CultureInfo.InvariantCulture);
            start = dir;
        }
        return (start, seconds);
    }

    /// <summary>The seed's fine-tuning data in the shape a method reads (each written in TRL's format by <see cref="BuildData"/>).</summary>
    private static string DataFile(string dataDir, DataShape shape) => shape switch
    {
        DataShape.SingleTarget or DataShape.SelfGenerated => Path.Combine(dataDir, "sft.jsonl"),
        DataShape.PreferencePairs => Path.Combine(dataDir, "preference.jsonl"),
        DataShape.UnpairedLabelled => Path.Combine(dataDir, "unpaired.jsonl"),
        _ => throw new InvalidOperationException($"the comparison has no {shape.Describe()} data"),
    };

    /// <summary>The evaluation sets: fixed by the evaluation seed, the same for every method and training seed.</summary>
    private sealed class EvalSets(EvalSettings e)
    {
        public IReadOnlyList<TaskExample> Reasoning { get; } = TaskSuite.Items(TaskKind.Reasoning, TaskSplit.Eval, e.ReasoningItems, e.Seed);
        public IReadOnlyList<TaskExample> Facts { get; } = TaskSuite.Items(TaskKind.FactFollowing, TaskSplit.Eval, e.FactItems, e.Seed);
        public IReadOnlyList<TaskExample> MultipleChoice { get; } = TaskSuite.Items(TaskKind.MultipleChoice, TaskSplit.Eval, e.MultipleChoiceItems, e.Seed);
        public IReadOnlyList<string> HeldOut { get; } = PretrainingCorpus.HeldOut(e.HeldOutTexts, e.Seed);
    }

    private TaskScores Evaluate(string modelDir, string label, EvalSets sets)
    {
        var path = Path.Combine(modelDir, $"eval-{CompareSettings.Hash("eval", settings.Eval)}.json");
        if (File.Exists(path))
        {
            Advance($"evaluating {label}", EvalUnits);
            return JsonSerializer.Deserialize<TaskScores>(File.ReadAllText(path))!;
        }
        Report($"evaluating {label}");
        using var model = LlamaForCausalLM.FromPretrained(modelDir);
        var evaluator = new ModelEvaluator(model, tokenizer, template, settings.Base.MaxLength);
        var reasoning = evaluator.Generate(sets.Reasoning, settings.Eval.MaxNewTokens);
        var facts = evaluator.Generate(sets.Facts, settings.Eval.MaxNewTokens);
        double Accuracy(IReadOnlyList<TaskExample> items, IReadOnlyList<string> outputs) =>
            items.Select((x, i) => TaskAnswers.IsCorrect(outputs[i], x) ? 1.0 : 0.0).Average();
        var scores = new TaskScores(Accuracy(sets.Reasoning, reasoning), Accuracy(sets.Facts, facts),
            evaluator.MultipleChoice(sets.MultipleChoice), evaluator.Perplexity(sets.HeldOut));
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(scores));
        var samples = sets.Reasoning.Take(5).Select((x, i) => new { prompt = x.Prompt, reference = x.Solution, generated = reasoning[i] })
            .Concat(sets.Facts.Take(5).Select((x, i) => new { prompt = x.Prompt, reference = x.Solution, generated = facts[i] }));
        AtomicFile.WriteAllText(Path.ChangeExtension(path, null) + "-samples.json", JsonSerializer.Serialize(samples, new JsonSerializerOptions { WriteIndented = true }));
        Advance($"evaluating {label}", EvalUnits);
        return scores;
    }

    /// <summary>
    /// Runs <paramref name="build"/> into a temporary folder beside <paramref name="dir"/> and renames it into place,
    /// unless a completed <paramref name="dir"/> exists already (then its work units count as done).
    /// </summary>
    private string Stage(string dir, string label, double units, Action<string> build)
    {
        if (Directory.Exists(dir))
        {
            Advance(label, units);
            return dir;
        }
        var temp = Path.Combine(Path.GetDirectoryName(dir)!, "." + Path.GetFileName(dir) + ".tmp");
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        double before = done;
        Report(label);
        build(temp);
        Directory.Move(temp, dir);
        done = before;
        Advance(label, units);
        return dir;
    }

    private void Advance(string label, StepMetrics m) => Advance($"{label}: step {m.Step}, loss {m.Loss:F3}", 1);

    private void Advance(string label, double units)
    {
        done += units;
        progress?.Invoke(new CompareProgress(label, Math.Min(done, total), total));
    }

    private void Report(string label) => progress?.Invoke(new CompareProgress(label, done, total));
}

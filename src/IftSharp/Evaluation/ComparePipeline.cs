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
/// steps and prompts over the same learning-rate grid, score every run's checkpoints on the validation split, and score
/// its final model and its validation-chosen checkpoint on the evaluation split, for each seed. The grid is trained on the
/// tuning seeds only (<see cref="FineTuneSettings.TuningSeeds"/>), which choose each recipe's rate; a later seed trains a
/// recipe at the shared rate and at its chosen one. Every stage is cached in
/// a folder (or file) named by a hash of the settings it depends on, written under a temporary name and renamed when
/// complete, so an interrupted comparison resumes where it stopped and a changed setting recomputes only what depends on it.
/// </summary>
public sealed class ComparePipeline(CompareSettings settings, string output, Action<CompareProgress>? progress = null,
    Action<string>? log = null)
{
    private const int SamplingUnits = 20, EvalUnits = 20, ValidationUnits = 8;
    private static readonly JsonSerializerOptions Readable = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
    private static readonly System.Globalization.CultureInfo Invariant = System.Globalization.CultureInfo.InvariantCulture;
    private readonly ByteLevelTokenizer tokenizer = new();
    private readonly ChatMlTemplate template = new();
    private double done, total;

    public CompareResult Run(CancellationToken cancel = default)
    {
        var f = settings.FineTune;
        if (settings.Seeds < 1) throw new InputException("--seeds: expected at least 1");
        if (f.LearningRates.Count == 0 || f.LearningRates.Any(lr => !(lr > 0)))
            throw new InputException("--learning-rates: expected one or more positive learning rates");
        if (!f.LearningRates.Contains(f.LearningRate))
            throw new InputException($"--learning-rate: {f.LearningRate:G3} is not in the grid "
                + $"{string.Join(", ", f.LearningRates.Select(x => x.ToString("G3", Invariant)))}; the shared rate must be one of them");
        if (f.Checkpoints < 1) throw new InputException("--checkpoints: expected at least 1");
        if (f.TuningSeeds < 1 || f.TuningSeeds > settings.Seeds)
            throw new InputException($"--tuning-seeds: expected 1 to {settings.Seeds} (the number of seeds), got {f.TuningSeeds}");
        var clock = Stopwatch.StartNew();
        var recipes = CompareRecipe.Select(settings.Recipes);
        Directory.CreateDirectory(output);
        total = Units(recipes, chosen: null);

        var baseDir = PretrainBase(cancel);
        long parameters;
        using (var m = LlamaForCausalLM.FromPretrained(baseDir)) parameters = m.parameters().Sum(p => p.numel());
        var evalSets = EvalSets(settings.Eval);
        var validationSets = ValidationSets(settings.Validation);
        var baseScores = Evaluate(baseDir, "base", evalSets);

        var runs = new List<CompareRun>();
        var data = new List<PreferenceDataSummary>();
        double sampling = 0, training = 0, validation = 0, evaluation = baseScores.Seconds;
        IReadOnlyDictionary<string, double>? chosen = null; // each recipe's rate, once the tuning seeds have chosen it
        for (int seed = 1; seed <= settings.Seeds; seed++)
        {
            if (seed == f.TuningSeeds + 1)
            {
                chosen = CompareReport.ChooseLearningRates(runs);
                total = Units(recipes, chosen);
                log?.Invoke($"learning rates chosen on the tuning {CompareReport.TuningSeedsText(settings)}: "
                    + string.Join(", ", recipes.Select(r => $"{r.Name} {chosen[r.Name].ToString("G3", Invariant)}")));
            }
            var (summary, samplingSeconds) = BuildData(baseDir, seed);
            sampling += samplingSeconds;
            data.Add(summary);
            foreach (var lr in f.LearningRates)
                foreach (var recipe in recipes)
                {
                    // A later seed trains only the shared rate and the recipe's chosen one.
                    if (chosen is not null && lr != f.LearningRate && lr != chosen[recipe.Name]) continue;
                    cancel.ThrowIfCancellationRequested();
                    var label = $"{recipe.Name} seed {seed} lr {lr:G3}";
                    var trained = Train(recipe, seed, lr, baseDir, summary.Directory, label, cancel);
                    var run = ScoreRun(recipe, seed, lr, trained, label, validationSets, evalSets);
                    runs.Add(run);
                    training += trained.Seconds;
                    validation += run.Validation.Sum(v => v.Seconds);
                    evaluation += run.Final.Seconds + (run.SelectedStep == f.Steps ? 0 : run.Selected.Seconds);
                }
        }
        var counts = new Dictionary<string, int>
        {
            ["reasoning"] = evalSets.Reasoning.Count, ["fact_following"] = evalSets.Facts.Count,
            ["multiple_choice"] = evalSets.MultipleChoice.Count, ["held_out_texts"] = evalSets.HeldOut!.Count,
            ["validation_reasoning"] = validationSets.Reasoning.Count, ["validation_fact_following"] = validationSets.Facts.Count,
            ["validation_multiple_choice"] = validationSets.MultipleChoice.Count,
        };
        var (pretrainSeconds, pretrainTokens) = ReadPretrainingRecord(baseDir);
        return new CompareResult(settings, baseScores, runs, data, counts, parameters, clock.Elapsed.TotalSeconds)
        {
            Stages = new StageSeconds(pretrainSeconds, sampling, training, validation, evaluation), PretrainingTokens = pretrainTokens,
        };
    }

    /// <summary>
    /// The comparison's work units: the tuning seeds' runs at every rate of the grid, then each later seed's runs at the
    /// shared rate and each recipe's chosen one. Before the rates are chosen (<paramref name="chosen"/> null) a later seed
    /// counts two runs per recipe, the most it can train, so the total only shrinks once they are known.
    /// </summary>
    private double Units(IReadOnlyList<CompareRecipe> recipes, IReadOnlyDictionary<string, double>? chosen)
    {
        var f = settings.FineTune;
        int perLaterSeed = chosen is null ? recipes.Count * Math.Min(2, f.LearningRates.Count)
            : recipes.Sum(r => chosen[r.Name] == f.LearningRate ? 1 : 2);
        int runs = f.TuningSeeds * recipes.Count * f.LearningRates.Count + (settings.Seeds - f.TuningSeeds) * perLaterSeed;
        return settings.Base.Steps + EvalUnits + settings.Seeds * SamplingUnits
            + runs * (f.Steps + f.Checkpoints * ValidationUnits + 2 * EvalUnits);
    }

    private string BaseHash => CompareSettings.Hash("base", settings.Base);

    private string PretrainBase(CancellationToken cancel)
    {
        var b = settings.Base;
        var dir = Path.Combine(output, $"base-{BaseHash}");
        return Stage(dir, "pretraining the base model", b.Steps, temp =>
        {
            var clock = Stopwatch.StartNew();
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
                    LearningRate = b.LearningRate, MaxSteps = b.Steps, BatchSize = b.BatchSize, Seed = b.Seed, WarmupRatio = 0.05,
                    OutputDirectory = temp,
                },
            };
            var sftMethod = MethodRegistry.Get("sft");
            var history = sftMethod.Train(session, MethodData.Of(examples, "documents"), null, sftMethod.Defaults);
            if (history.Count < b.Steps) throw new OperationCanceledException();
            model.SavePretrained(temp);
            tokenizer.Save(temp);
            long tokens = (long)Math.Round(history.Sum(m => m.TokensPerSecond * m.Seconds));
            File.WriteAllText(Path.Combine(temp, PretrainingRecord),
                JsonSerializer.Serialize(new { seconds = clock.Elapsed.TotalSeconds, tokens }));
        });
    }

    private const string PretrainingRecord = "pretraining.json";

    /// <summary>How long pretraining took and how many tokens it trained on (0, 0 for a base folder from before the record).</summary>
    private static (double Seconds, long Tokens) ReadPretrainingRecord(string baseDir)
    {
        var path = Path.Combine(baseDir, PretrainingRecord);
        if (!File.Exists(path)) return (0, 0);
        var node = JsonNode.Parse(File.ReadAllText(path))!;
        return ((double)node["seconds"]!, (long)node["tokens"]!);
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
    private (PreferenceDataSummary Summary, double Seconds) BuildData(string baseDir, int seed)
    {
        var f = settings.FineTune;
        var hash = CompareSettings.Hash("data", BaseHash, f.ReasoningPrompts, f.FactPrompts, f.SampleTemperature, f.MaxNewTokens, seed);
        var dir = Path.Combine(output, $"seed-{seed}", $"data-{hash}");
        Stage(dir, $"sampling rejected answers (seed {seed})", SamplingUnits, temp =>
        {
            var clock = Stopwatch.StartNew();
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
                sftLines.Add(new JsonObject
                {
                    ["messages"] = new JsonArray(Message("user", item.Prompt), Message("assistant", item.Solution)),
                }.ToJsonString(Readable));
                prefLines.Add(new JsonObject
                {
                    ["prompt"] = Turn("user", item.Prompt), ["chosen"] = Turn("assistant", item.Solution),
                    ["rejected"] = Turn("assistant", rejected),
                    ["rejected_source"] = useSample ? "base model sample" : "corrupted solution",
                }.ToJsonString(Readable));
            }
            File.WriteAllLines(Path.Combine(temp, "sft.jsonl"), sftLines);
            File.WriteAllLines(Path.Combine(temp, "preference.jsonl"), prefLines);
            File.WriteAllText(Path.Combine(temp, "summary.json"), JsonSerializer.Serialize(new
            {
                pairs = items.Count, sampled_rejected = sampled, corrupted_rejected = items.Count - sampled,
                seconds = clock.Elapsed.TotalSeconds,
            }));
        });
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!;
        WriteUnpaired(dir);
        return (new PreferenceDataSummary(seed, (int)summary["pairs"]!, (int)summary["sampled_rejected"]!,
            (int)summary["corrupted_rejected"]!, dir), (double?)summary["seconds"] ?? 0);
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
                lines.Add(new JsonObject
                {
                    ["prompt"] = row["prompt"]!.DeepClone(), ["completion"] = row[field]!.DeepClone(), ["label"] = label,
                }.ToJsonString(Readable));
        }
        AtomicFile.WriteAllText(path, string.Join("\n", lines) + "\n");
    }

    /// <summary>A trained recipe: its final model, the seconds of training, and the last stage's checkpoints before the end.</summary>
    private sealed record Trained(string Directory, double Seconds, int Steps, IReadOnlyList<(int Step, string Path)> Checkpoints);

    /// <summary>
    /// Trains a recipe's stages in turn, each from the previous stage's model. The last stage writes a checkpoint every
    /// 1/<see cref="FineTuneSettings.Checkpoints"/> of its steps, the candidates of checkpoint selection (a sequential
    /// recipe's candidates are its second stage's: choosing a point of its first stage would choose another recipe).
    /// </summary>
    private Trained Train(CompareRecipe recipe, int seed, double lr, string baseDir, string dataDir, string label, CancellationToken cancel)
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
            int stageSteps = steps[i];
            bool last = i == recipe.Stages.Count - 1;
            int saveSteps = last ? Math.Max(1, stageSteps / f.Checkpoints) : 0;
            var trainer = new TrainerOptions
            {
                LearningRate = lr, MaxSteps = stageSteps, BatchSize = f.BatchSize, Seed = seed, SaveSteps = saveSteps,
            };
            var hash = CompareSettings.Hash("train", BaseHash,
                new { f.ReasoningPrompts, f.FactPrompts, f.SampleTemperature, f.MaxNewTokens },
                trainer, prefix, JsonSerializer.Serialize(options, options.GetType()));
            var dir = Path.Combine(output, $"seed-{seed}", $"{prefix}-{hash}");
            var from = start;
            var stageLabel = label + (recipe.Stages.Count > 1 ? $" ({method.Name}, stage {i + 1}/{recipe.Stages.Count})" : "");
            bool ran = false;
            Stage(dir, stageLabel, stageSteps, temp =>
            {
                ran = true;
                var clock = Stopwatch.StartNew();
                var run = new TrainingRunOptions
                {
                    Method = method.Name, Model = from, Dataset = DataFile(dataDir, method.Shape), Output = temp,
                    MaxLength = settings.Base.MaxLength, PrecomputeReferenceLogps = method.SupportsPrecomputedReference,
                    MethodOptions = options, Trainer = trainer,
                };
                var result = TrainingRun.Run(run,
                    new TrainingRunCallbacks { OnStep = m => Advance(stageLabel, m), Cancel = cancel, Log = log });
                if (result.Interrupted) throw new OperationCanceledException();
                // The final checkpoint is the final model, kept once; the others' optimizer state is never needed again.
                foreach (var (step, path) in TrainingCheckpoint.List(temp))
                    if (step >= stageSteps) Directory.Delete(path, recursive: true);
                    else File.Delete(Path.Combine(path, TrainingCheckpoint.OptimizerFile));
                File.WriteAllText(Path.Combine(temp, "train_seconds.txt"), clock.Elapsed.TotalSeconds.ToString("R", Invariant));
            });
            if (!ran) log?.Invoke($"{stageLabel}: reusing {dir}");
            seconds += double.Parse(File.ReadAllText(Path.Combine(dir, "train_seconds.txt")), Invariant);
            start = dir;
        }
        int before = steps.Take(steps.Count - 1).Sum();
        var checkpoints = TrainingCheckpoint.List(start).Select(c => (before + c.Step, c.Path)).ToList();
        return new Trained(start, seconds, f.Steps, checkpoints);
    }

    /// <summary>
    /// Scores a run's candidates (its checkpoints and final model) on the validation split, chooses the best average
    /// (the latest on a tie, so a flat curve keeps the final model), and scores the final model and the chosen one on the
    /// evaluation split. The checkpoints not chosen are then removed: their validation scores are kept, their weights
    /// are never read again.
    /// </summary>
    private CompareRun ScoreRun(CompareRecipe recipe, int seed, double lr, Trained trained, string label, CompareTaskSets validationSets,
        CompareTaskSets evalSets)
    {
        var validationHash = CompareSettings.Hash("validation", settings.Validation, settings.Eval.MaxNewTokens);
        var path = Path.Combine(trained.Directory, $"validation-{validationHash}.json");
        List<ValidationScore> curve;
        if (File.Exists(path))
        {
            curve = JsonSerializer.Deserialize<List<ValidationScore>>(File.ReadAllText(path))!;
            Advance($"validating {label}", settings.FineTune.Checkpoints * ValidationUnits);
        }
        else
        {
            curve = [];
            var candidates = trained.Checkpoints.Append((trained.Steps, trained.Directory)).ToList();
            foreach (var (step, dir) in candidates)
                curve.Add(Validate(dir, step, $"validating {label} at step {step}", validationSets));
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(curve));
            // Any shortfall (a run of fewer steps than checkpoints) still counts the stage's units as done.
            Advance($"validating {label}", Math.Max(0, settings.FineTune.Checkpoints - candidates.Count) * ValidationUnits);
        }
        var best = curve.Where(v => v.Average == curve.Max(c => c.Average)).MaxBy(v => v.Step)!;
        var final = Evaluate(trained.Directory, label, evalSets);
        var selected = best.Step == trained.Steps ? final
            : Evaluate(trained.Checkpoints.Single(c => c.Step == best.Step).Path, $"{label} step {best.Step}", evalSets);
        if (best.Step == trained.Steps) Advance($"evaluating {label}", EvalUnits);
        foreach (var (step, dir) in trained.Checkpoints)
            if (step != best.Step) Directory.Delete(dir, recursive: true);
        return new CompareRun(recipe.Name, seed, lr, final, selected, best.Step, curve, trained.Seconds, trained.Directory);
    }

    /// <summary>
    /// The seed's fine-tuning data in the shape a method reads (each written in TRL's format by <see cref="BuildData"/>).
    /// </summary>
    private static string DataFile(string dataDir, DataShape shape) => shape switch
    {
        DataShape.SingleTarget or DataShape.SelfGenerated => Path.Combine(dataDir, "sft.jsonl"),
        DataShape.PreferencePairs => Path.Combine(dataDir, "preference.jsonl"),
        DataShape.UnpairedLabelled => Path.Combine(dataDir, "unpaired.jsonl"),
        _ => throw new InvalidOperationException($"the comparison has no {shape.Describe()} data"),
    };

    /// <summary>The evaluation sets: fixed by the evaluation seed, the same for every method and training seed.</summary>
    private CompareTaskSets EvalSets(EvalSettings e) => new(TaskSplit.Eval, e.ReasoningItems, e.FactItems, e.MultipleChoiceItems,
        e.HeldOutTexts, e.Seed, tokenizer, template, settings.Base.MaxLength);

    /// <summary>The validation sets: the validation split's items, fixed by their own seed, the same for every run.</summary>
    private CompareTaskSets ValidationSets(ValidationSettings v) => new(TaskSplit.Validation, v.ReasoningItems, v.FactItems,
        v.MultipleChoiceItems, heldOut: null, v.Seed, tokenizer, template, settings.Base.MaxLength);

    private ValidationScore Validate(string modelDir, int step, string label, CompareTaskSets sets)
    {
        Report(label);
        var clock = Stopwatch.StartNew();
        using var model = LlamaForCausalLM.FromPretrained(modelDir);
        var results = sets.Score(new ModelEvaluator(model, tokenizer, template, settings.Base.MaxLength), settings.Eval.MaxNewTokens);
        Advance(label, ValidationUnits);
        return new ValidationScore(step, results[0].Score, results[1].Score, results[2].Score, clock.Elapsed.TotalSeconds);
    }

    /// <summary>A model's evaluation-split scores with every item's outcome, cached in the model folder.</summary>
    private ItemScores Evaluate(string modelDir, string label, CompareTaskSets sets)
    {
        var path = Path.Combine(modelDir, $"eval-{CompareSettings.Hash("eval", settings.Eval, "items")}.json");
        if (File.Exists(path))
        {
            Advance($"evaluating {label}", EvalUnits);
            return JsonSerializer.Deserialize<ItemScores>(File.ReadAllText(path))!;
        }
        Report($"evaluating {label}");
        var clock = Stopwatch.StartNew();
        using var model = LlamaForCausalLM.FromPretrained(modelDir);
        var r = sets.Score(new ModelEvaluator(model, tokenizer, template, settings.Base.MaxLength), settings.Eval.MaxNewTokens);
        var scores = new TaskScores(r[0].Score, r[1].Score, r[2].Score, r[3].Score);
        var result = new ItemScores(scores, CompareTaskSets.Outcomes(r[0]), CompareTaskSets.Outcomes(r[1]), CompareTaskSets.Outcomes(r[2]),
            clock.Elapsed.TotalSeconds);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(result));
        var samples = r[0].Samples.Take(5).Concat(r[1].Samples.Take(5))
            .Select(x => new { prompt = x.Prompt, reference = x.Reference, generated = x.Generation, correct = x.Correct });
        AtomicFile.WriteAllText(Path.ChangeExtension(path, null) + "-samples.json",
            JsonSerializer.Serialize(samples, new JsonSerializerOptions { WriteIndented = true }));
        Advance($"evaluating {label}", EvalUnits);
        return result;
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

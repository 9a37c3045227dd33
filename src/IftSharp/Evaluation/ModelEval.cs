using System.Diagnostics;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Tokenization;

namespace IftSharp.Evaluation;

/// <summary>
/// <c>iftsharp eval</c>'s library entry point: <see cref="Run"/> scores a model folder (and LoRA adapter) on tasks of
/// the generated suite and on a user's file and writes <c>eval.json</c> and <c>samples.jsonl</c>; <c>Score</c>
/// scores a model already in memory on task sets built by the caller (<see cref="SuiteTaskSets"/>,
/// <see cref="EvalDataset"/>), which is what <c>compare</c> needs between checkpoints.
/// </summary>
public static class ModelEval
{
    /// <summary>
    /// Checks the options, the model folder and the data before loading any weights, then evaluates every task in
    /// order (suite tasks, then the file's answer rows, then its choice rows) and writes the output folder, if any.
    /// </summary>
    public static EvalReport Run(EvalOptions options, EvalCallbacks? callbacks = null)
    {
        callbacks ??= new EvalCallbacks();
        options.Check();
        var clock = Stopwatch.StartNew();
        var configPath = Path.Combine(options.Model, "config.json");
        if (!File.Exists(configPath)) throw new InputException($"{configPath}: file not found; expected a model folder (--model)");
        if (options.Adapter is string adapterDir && !PeftAdapter.IsAdapterFolder(adapterDir))
            throw new InputException(
                $"{Path.Combine(adapterDir, PeftAdapter.ConfigFileName)}: file not found; expected a PEFT adapter folder (--adapter)");
        if (options.Output is string output && File.Exists(output))
            throw new EnvironmentException($"{output}: is a file; expected a folder for {EvalReport.ResultsFile} (--output)");
        var config = DecoderConfig.Load(configPath);
        var (tokenizer, template) = TokenizerLoader.Load(options.Model);
        ModelChecks.VocabularyCovers(config, tokenizer, configPath);
        int maxLength = config.MaxPositionEmbeddings;

        var sets = new List<EvalTaskSet>();
        foreach (var task in options.SuiteTasks)
            sets.Add(SuiteTaskSets.Build(task, options.Split, options.Items ?? EvalOptions.DefaultSuiteItems, options.Seed, tokenizer,
                template, maxLength));
        if (options.Data is string data)
        {
            var (answers, choices) = EvalDataset.Read(data, tokenizer, template, maxLength, options.MaxNewTokens, options.Items,
                callbacks.Log);
            if (answers is not null) sets.Add(answers);
            if (choices is not null) sets.Add(choices);
        }

        using var model = LlamaForCausalLM.FromPretrained(options.Model);
        if (options.Adapter is string adapter) PeftAdapter.Load(model, adapter, trainable: false); // the model disposes it
        var evaluator = new ModelEvaluator(model, tokenizer, template, maxLength);
        var results = Score(evaluator, sets, options.MaxNewTokens, options.BatchSize, callbacks);
        var report = new EvalReport(Path.GetFullPath(options.Model), options.Adapter is null ? null : Path.GetFullPath(options.Adapter),
            options, maxLength, results, clock.Elapsed.TotalSeconds);
        if (options.Output is string dir) report.Write(dir);
        return report;
    }

    /// <summary>Every task set scored with one evaluator, in order.</summary>
    public static IReadOnlyList<EvalTaskResult> Score(ModelEvaluator evaluator, IReadOnlyList<EvalTaskSet> sets, int maxNewTokens,
        int batchSize, EvalCallbacks? callbacks = null)
    {
        callbacks ??= new EvalCallbacks();
        return sets.Select(set => Score(evaluator, set, maxNewTokens, batchSize, callbacks)).ToList();
    }

    /// <summary>One task set: exact match of greedy answers, log-likelihood choice (acc and acc_norm), or perplexity.</summary>
    public static EvalTaskResult Score(ModelEvaluator evaluator, EvalTaskSet set, int maxNewTokens, int batchSize, EvalCallbacks callbacks)
    {
        // Progress counts what the slow part works through: prompts, texts, or (multiple choice) scored rows.
        int done = 0, total = set is ChoiceTaskSet c ? c.Items.Sum(i => i.Rows.Count) : set.Count;
        var unit = set switch { AnswerTaskSet => "prompts", ChoiceTaskSet => "choices", _ => "texts" };
        void Progress(int n) => callbacks.OnProgress?.Invoke(new EvalProgress(set.Name, done += n, total, unit));
        Progress(0);
        switch (set)
        {
            case AnswerTaskSet answers:
            {
                var outputs = evaluator.GenerateTokens(answers.Items.Select(i => i.PromptIds).ToList(), maxNewTokens, batchSize: batchSize,
                    onBatch: Progress, cancel: callbacks.Cancel);
                var samples = answers.Items.Select((item, i) =>
                {
                    var generation = evaluator.Decode(outputs[i]);
                    var extracted = EvalAnswers.Extract(generation, item.RequireAnswerLine);
                    return new EvalSample(set.Name, item.Key, item.Prompt, item.Answer, EvalAnswers.Matches(extracted, item.Answer))
                    {
                        Generation = generation, Extracted = extracted,
                    };
                }).ToList();
                var metrics = new Dictionary<string, double> { ["exact_match"] = Mean(samples, s => s.Correct) };
                return new EvalTaskResult(set.Name, "exact_match", metrics, samples.Count, samples);
            }
            case ChoiceTaskSet choices:
            {
                var rows = choices.Items.SelectMany(i => i.Rows).ToList();
                var scores = evaluator.Score(rows, batchSize, Progress, callbacks.Cancel);
                var samples = new List<EvalSample>();
                int k = 0;
                foreach (var item in choices.Items)
                {
                    var lls = scores.Skip(k).Take(item.Rows.Count).Select(s => s.LogLikelihood).ToList();
                    k += item.Rows.Count;
                    int chosen = ArgMax(lls), chosenNorm = ArgMax(lls.Select((ll, j) => ll / item.Characters[j]).ToList());
                    samples.Add(new EvalSample(set.Name, item.Key, item.Prompt, item.Choices[item.AnswerIndex], chosen == item.AnswerIndex)
                    {
                        Choices = item.Choices, LogLikelihoods = lls, Chosen = chosen, ChosenNormalised = chosenNorm,
                        CorrectNormalised = chosenNorm == item.AnswerIndex,
                    });
                }
                var metrics = new Dictionary<string, double>
                {
                    ["acc"] = Mean(samples, s => s.Correct), ["acc_norm"] = Mean(samples, s => s.CorrectNormalised == true),
                };
                return new EvalTaskResult(set.Name, "acc", metrics, samples.Count, samples);
            }
            case PerplexityTaskSet texts:
            {
                var scored = evaluator.Score(evaluator.TextRows(texts.Texts), batchSize, Progress, callbacks.Cancel);
                double tokens = scored.Sum(s => s.Tokens);
                var perplexity = Math.Exp(-scored.Sum(s => s.LogLikelihood) / tokens);
                return new EvalTaskResult(set.Name, "perplexity", new Dictionary<string, double> { ["perplexity"] = perplexity },
                    texts.Texts.Count, [])
                { Tokens = (long)tokens };
            }
            default: throw new ArgumentException($"unknown task set {set.GetType().Name}", nameof(set));
        }
    }

    /// <summary>The first index of the largest value (ties go to the earlier choice, as numpy's argmax).</summary>
    private static int ArgMax(IReadOnlyList<double> values)
    {
        int best = 0;
        for (int i = 1; i < values.Count; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private static double Mean(IReadOnlyList<EvalSample> samples, Func<EvalSample, bool> right) =>
        samples.Count == 0 ? 0 : samples.Count(right) / (double)samples.Count;
}

using System.Text.Json;
using System.Text.Json.Nodes;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Training;

namespace IftSharp.Methods;

/// <summary>SPIN's settings; defaults from the paper and uclaml/SPIN's scripts.</summary>
public sealed record SpinOptions
{
    [Setting("beta", "β of every round's DPO-form loss against the round's opponent", Min = 0, MinExclusive = true)]
    public double Beta { get; init; } = 0.1;
    [Setting("loss-type", "sigmoid (the paper's logistic loss) or hinge (SPIN's other option)")]
    public DpoLossType LossType { get; init; } = DpoLossType.Sigmoid;
    [Setting("spin-rounds",
        "Self-play rounds the steps are split into; each generates new rejected answers from the current model", Min = 1)]
    public int Rounds { get; init; } = 3;
    [Setting("spin-temperature", "Sampling temperature of the generated answers (0: greedy, as uclaml/SPIN's generate.py)", Min = 0)]
    public double Temperature { get; init; }
    [Setting("spin-max-new-tokens", "Most tokens of a generated answer (uclaml/SPIN: 256)", Min = 1)]
    public int MaxNewTokens { get; init; } = 256;
}

/// <summary>
/// SPIN (Chen et al., 2024, "Self-Play Fine-Tuning"; uclaml/SPIN) from single-target SFT data only, like IFT. Each round
/// the current model answers every prompt; its answer is the rejected completion and the ground truth the chosen one,
/// against the round's starting model as the opponent (the DPO-form loss of <see cref="Dpo"/>). The opponent is frozen
/// for the round, so its log-probs are computed once at the round's start and kept with the round's pairs in
/// <c>OUTPUT/spin-round-K.jsonl</c>: a resumed run reads them back instead of generating again, which makes
/// <c>--resume</c> exact across rounds, and a user can read what the model generated.
/// </summary>
public sealed class SpinMethod() : PairwiseMethod<SpinOptions>("spin", "SPIN",
    "SPIN: self-play from SFT data only; each round the model's own answers are rejected against the ground truth", new SpinOptions())
{
    public override DataShape Shape => DataShape.SelfGenerated;
    public override bool NeedsReference => false;
    public override bool SupportsEvaluation => false;

    protected override int SelfPlayRounds(SpinOptions options) => options.Rounds;

    protected override void Validate(SpinOptions options, TrainerOptions trainer)
    {
        if (options.LossType is not (DpoLossType.Sigmoid or DpoLossType.Hinge))
            throw new InputException($"--loss-type: {SettingInfo.SnakeCase(options.LossType.ToString())}; SPIN's loss is sigmoid or hinge");
        if (options.Rounds > trainer.MaxSteps)
            throw new InputException($"--spin-rounds: {options.Rounds} rounds need at least as many --max-steps ({trainer.MaxSteps})");
    }

    public override ObjectiveResult Loss(PairScores s, SpinOptions options) =>
        Dpo.Loss(s.PolicyChosen, s.PolicyRejected, s.RefChosen, s.RefRejected,
            new DpoOptions { Beta = options.Beta, LossType = options.LossType });

    public override MethodData Read(string path, DataRequest request) => new MethodData<TrainingExample>(
        ConversationDataset.ReadExamples(path, request.Tokenizer, request.Template, request.ReadOptions), "examples");

    public override MethodData Synthetic(SyntheticRequest r)
    {
        var rng = new Random((int)r.Seed);
        return MethodData.Of(Enumerable.Range(0, r.Items).Select(_ => SyntheticData.Example(rng, r)).ToList());
    }

    protected override IReadOnlyList<StepMetrics> Train(TrainingSession session, MethodData train, MethodData? eval, SpinOptions options)
    {
        var examples = Items<TrainingExample>(train);
        var output = session.Options.OutputDirectory;
        if (output is not null && !session.Options.Resume) // a new run generates its own rounds
            foreach (var stale in Directory.Exists(output) ? Directory.GetFiles(output, "spin-round-*.jsonl") : []) File.Delete(stale);
        return TrainOnPairs(session, options, options.Rounds, r => Round(session, examples, options, r), eval: null);
    }

    private PairRound Round(TrainingSession session, IReadOnlyList<TrainingExample> examples, SpinOptions options, int round)
    {
        var output = session.Options.OutputDirectory;
        var path = output is null ? null : Path.Combine(output, $"spin-round-{round + 1}.jsonl");
        if (path is not null && File.Exists(path)) return ReadRound(path);

        session.Log?.Invoke($"SPIN round {round + 1}/{options.Rounds}: generating the model's answers to {examples.Count} prompts.");
        var model = session.Compute as LlamaForCausalLM ?? throw new InvalidOperationException("SPIN generates with a LlamaForCausalLM");
        // The model's end-of-sequence ids (as transformers' generation config) and the tokenizer's end of turn.
        var eos = model.Config.EosTokenIds.Concat(session.Tokenizer?.EosTokenId is int e ? [e] : []).Distinct().ToList();
        var pairs = new List<PreferenceExample>(examples.Count);
        for (int i = 0; i < examples.Count; i += session.Options.BatchSize)
        {
            var batch = examples.Skip(i).Take(session.Options.BatchSize).ToList();
            var prompts = batch.Select(x => (IReadOnlyList<int>)x.InputIds[..PromptLength(x)]).ToList();
            var generation = new GenerationOptions
            {
                MaxNewTokens = options.MaxNewTokens, Temperature = options.Temperature, EosTokenIds = eos, PadTokenId = session.PadId,
                Seed = session.Options.Seed * 1000 + round * 100_003 + i,
            };
            var answers = TokenGenerator.Generate(model, prompts, generation).Tokens;
            for (int k = 0; k < batch.Count; k++)
                pairs.Add(new PreferenceExample(batch[k], Rejected(prompts[k], answers[k], session.MaxLength)));
        }
        // The opponent is the model as the round starts: its log-probs now are its log-probs for the whole round.
        var opponent = ReferenceLogps.Precompute(model, pairs, PairedForward.Sequences, session.PadId, session.Options.BatchSize,
            chunk: session.LogitsChunk);
        if (path is not null) WriteRound(path, pairs, opponent, session.Tokenizer);
        return new PairRound(pairs, opponent);
    }

    private static int PromptLength(TrainingExample x) => Math.Max(1, Array.FindIndex(x.Labels, l => l != TokenLogProbs.IgnoreIndex));

    /// <summary>
    /// The prompt and the generated answer, labels on the answer (an empty answer keeps one labelled token: the last prompt
    /// token's successor is unknown, so the row is the prompt only and contributes nothing).
    /// </summary>
    private static TrainingExample Rejected(IReadOnlyList<int> prompt, IReadOnlyList<int> answer, int maxLength)
    {
        var ids = prompt.Concat(answer).Take(maxLength).ToArray();
        var labels = ids.Select((id, t) => t < prompt.Count ? TokenLogProbs.IgnoreIndex : id).ToArray();
        return new TrainingExample(ids, labels);
    }

    private static void WriteRound(
        string path, IReadOnlyList<PreferenceExample> pairs, ReferenceLogps opponent, Tokenization.ITokenizer? tokenizer)
    {
        var lines = pairs.Select((p, i) =>
        {
            int prompt = PromptLength(p.Chosen);
            JsonArray Ints(IEnumerable<long> values) => [.. values.Select(v => (JsonNode?)v)];
            var row = new JsonObject();
            if (tokenizer is not null)
            {
                row["prompt"] = tokenizer.Decode(p.Chosen.InputIds[..prompt]);
                row["chosen"] = tokenizer.Decode(p.Chosen.InputIds[prompt..]);
                row["rejected"] = tokenizer.Decode(p.Rejected.InputIds[Math.Min(prompt, p.Rejected.Length)..]);
            }
            row["chosen_ids"] = Ints(p.Chosen.InputIds.Select(x => (long)x));
            row["chosen_labels"] = Ints(p.Chosen.Labels);
            row["rejected_ids"] = Ints(p.Rejected.InputIds.Select(x => (long)x));
            row["rejected_labels"] = Ints(p.Rejected.Labels);
            row["opponent_logps"] = new JsonArray([.. opponent.Of(i).Select(v => (JsonNode?)v)]);
            return row.ToJsonString();
        });
        AtomicFile.WriteAllText(path, string.Join("\n", lines) + "\n");
    }

    private static PairRound ReadRound(string path)
    {
        var pairs = new List<PreferenceExample>();
        var table = new List<double[]>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            try
            {
                var row = JsonNode.Parse(text)!;
                TrainingExample Example(string name) => new(row[$"{name}_ids"]!.AsArray().Select(x => (int)x!).ToArray(),
                    row[$"{name}_labels"]!.AsArray().Select(x => (long)x!).ToArray());
                pairs.Add(new PreferenceExample(Example("chosen"), Example("rejected")));
                table.Add(row["opponent_logps"]!.AsArray().Select(x => (double)x!).ToArray());
            }
            catch (Exception ex) when (ex is JsonException or NullReferenceException or InvalidOperationException or FormatException)
            {
                throw InputException.At(path, line, null,
                    $"not a SPIN round written by this run ({ex.Message}); delete it or start without --resume");
            }
        }
        return new PairRound(pairs, ReferenceLogps.FromTable([.. table]));
    }
}

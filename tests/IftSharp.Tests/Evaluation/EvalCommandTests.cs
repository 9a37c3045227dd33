using System.Text.Json;
using IftSharp.Core;
using IftSharp.Evaluation;
using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Evaluation;

/// <summary>
/// <c>iftsharp eval</c> and <see cref="ModelEval"/>: scores on a model whose every probability is known by construction
/// (<see cref="BigramModel"/>), bad rows and flags, and the command end to end.
/// </summary>
public class EvalCommandTests
{
    private static readonly Lazy<string> Bigram = new(() => BigramModel.Folder(Temp.Directory("eval-bigram")));

    // After "\n" the model writes "Answer: 42"; the ChatML generation prompt ends in "\n" too.
    private const string AnswerRows = """
        {"prompt": "What is 6 x 7?\n", "answer": "42"}
        {"prompt": [{"role": "user", "content": "What is 6 x 7?"}], "answer": "42"}
        {"prompt": "What is 6 x 7 minus 1?\n", "answer": "41"}
        {"prompt": "And 42 again?\n", "answer": 42}
        """;

    private const string ChoiceRows = """
        {"prompt": "Q\n", "choices": ["Answer: 42", "Answer: 41", "Ans"], "answer_index": 0}
        {"prompt": [{"role": "user", "content": "Q"}], "choices": ["Answer: 41", "Answer: 42"], "answer_index": 1}
        """;

    private static EvalReport Run(string rows, int? items = null) =>
        ModelEval.Run(new EvalOptions { Model = Bigram.Value, Data = TempJsonl.Write(rows.Split('\n')), Items = items });

    [Fact]
    public void ExactMatchCountsTheRowsWhoseAnswerTheModelWritesByConstruction()
    {
        var result = Run(AnswerRows)[EvalDataset.AnswerTask]!;
        Assert.Equal(4, result.Items);
        Assert.All(result.Samples, s => Assert.Equal("Answer: 42", s.Generation));
        Assert.Equal([true, true, false, true], result.Samples.Select(s => s.Correct));
        Assert.Equal(0.75, result.Score);
        Assert.Contains("<|im_start|>assistant\n", result.Samples[1].Prompt); // the message list went through the template
    }

    [Fact]
    public void MultipleChoiceScoresAreTheHandComputedLogLikelihoods()
    {
        var result = Run(ChoiceRows)[EvalDataset.ChoiceTask]!;
        // The prompt's final "\n" moves to the start of each choice (the harness's rule), so every choice is scored as
        // "\n" + choice after a token without a successor ('Q', or 't' of "assistant"): log(1/259), then the chain.
        var first = result.Samples[0].LogLikelihoods!;
        Assert.Equal(BigramModel.LogLikelihood('Q', "\nAnswer: 42"), first[0], 3);
        Assert.Equal(BigramModel.LogLikelihood('Q', "\nAnswer: 41"), first[1], 3);
        Assert.Equal(BigramModel.LogLikelihood('Q', "\nAns"), first[2], 3);
        var second = result.Samples[1].LogLikelihoods!;
        Assert.Equal(BigramModel.LogLikelihood('t', "\nAnswer: 41"), second[0], 3);
        Assert.Equal(BigramModel.LogLikelihood('t', "\nAnswer: 42"), second[1], 3);
        // Row 1: every chain token costs log(1 + 258/e^10) ≈ 0.0117, so the short "Ans" has the highest sum (acc picks it)
        // while per character "Answer: 42" wins (acc_norm). Row 2: "Answer: 42" wins both ways ("1" after "4" costs 10).
        Assert.Equal([2, 1], result.Samples.Select(s => s.Chosen!.Value));
        Assert.Equal([0, 1], result.Samples.Select(s => s.ChosenNormalised!.Value));
        Assert.Equal(0.5, result.Metrics["acc"]);
        Assert.Equal(1.0, result.Metrics["acc_norm"]);
    }

    [Fact]
    public void MixedFilesScoreEachRowByItsShapeAndItemsLimitsEach()
    {
        var report = Run(AnswerRows + "\n" + ChoiceRows, items: 1);
        Assert.Equal(1, report[EvalDataset.AnswerTask]!.Items);
        Assert.Equal(1, report[EvalDataset.ChoiceTask]!.Items);
        Assert.Equal(1.0, report[EvalDataset.AnswerTask]!.Score);
        Assert.Equal(0.0, report[EvalDataset.ChoiceTask]!.Score);
    }

    [Fact]
    public void TheSuiteAsksItsProblemsThroughTheChatTemplate()
    {
        const int n = 60;
        var report = ModelEval.Run(new EvalOptions { Model = Bigram.Value, Tasks = [SuiteTask.Reasoning], Items = n });
        // The model answers 42 to every question: the score is the share of evaluation problems whose answer is 42.
        var problems = TaskSuite.Items(TaskKind.Reasoning, TaskSplit.Eval, n, new EvalOptions { Model = "" }.Seed);
        double expected = problems.Count(p => p.Answer == "42") / (double)n;
        Assert.True(expected > 0, "the drawn problems should include one whose answer is 42");
        Assert.Equal(expected, report["reasoning"]!.Score);
        Assert.Equal(problems.Select(p => p.Key), report["reasoning"]!.Samples.Select(s => s.Key));
    }

    [Fact]
    public void AnAdapterScoresAsTheModelItMergesInto()
    {
        var dir = Temp.Directory("eval-lora");
        string adapterDir = Path.Combine(dir, "adapter"), mergedDir = Path.Combine(dir, "merged");
        using (var model = LlamaForCausalLM.FromPretrained(Bigram.Value))
        {
            var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 2, TargetModules = ["o_proj"] }, seed: 1);
            using (no_grad())
            using (var generator = new TorchSharp.torch.Generator(3))
                foreach (var (_, lora) in adapter.Modules) lora.B.copy_(randn(lora.B.shape, lora.B.dtype, generator: generator).Times(2.0));
            PeftAdapter.Save(adapter, adapterDir, Bigram.Value);
        }
        Assert.Equal(0, CliRun.Run("merge", "--model", Bigram.Value, "--adapter", adapterDir, "--output", mergedDir).Code);
        var data = TempJsonl.Write(ChoiceRows.Split('\n'));
        double[] Scores(string model, string? adapter) => ModelEval.Run(new EvalOptions { Model = model, Adapter = adapter, Data = data })
            [EvalDataset.ChoiceTask]!.Samples.SelectMany(s => s.LogLikelihoods!).ToArray();
        var plain = Scores(Bigram.Value, null);
        var adapted = Scores(Bigram.Value, adapterDir);
        var merged = Scores(mergedDir, null);
        for (int i = 0; i < plain.Length; i++) Assert.Equal(merged[i], adapted[i], 3);
        Assert.True(plain.Zip(adapted).Max(p => Math.Abs(p.First - p.Second)) > 0.1, "the adapter should change the scores");
    }

    [Theory]
    [InlineData("3 + 4 = 7.\nAnswer: 7", true, "7")]
    [InlineData("7\nmore", true, null)] // the suite's answers need their Answer: line
    [InlineData("\n  7.\nmore", false, "7")] // a user's row falls back to the first non-empty line
    [InlineData("Answer: 7\nAnswer: 9", false, "7")]
    public void TheFinalAnswerIsTheAnswerLineOrForAUsersRowsTheFirstLine(string generated, bool requireAnswerLine, string? expected) =>
        Assert.Equal(expected, EvalAnswers.Extract(generated, requireAnswerLine));

    [Theory]
    [InlineData("42", "42", true)]
    [InlineData(" 42. ", "42", true)]
    [InlineData("42", "42.", true)]
    [InlineData("420", "42", false)]
    [InlineData(null, "42", false)]
    public void AnswersMatchTrimmedOfSpaceAndAFinalFullStop(string? extracted, string reference, bool matches) =>
        Assert.Equal(matches, EvalAnswers.Matches(extracted, reference));

    [Theory]
    [InlineData("[1, 2]", null, "expected a JSON object")]
    [InlineData("{\"answer\": \"4\"}", "prompt", "missing")]
    [InlineData("{\"prompt\": 3, \"answer\": \"4\"}", "prompt", "got a number")]
    [InlineData("{\"prompt\": \"\", \"answer\": \"4\"}", "prompt", "empty")]
    [InlineData("{\"prompt\": [{\"role\": \"king\", \"content\": \"x\"}], \"answer\": \"4\"}", "prompt[0].role", "'king'")]
    [InlineData("{\"prompt\": \"p\"}", "answer", "'choices' with 'answer_index'")]
    [InlineData("{\"prompt\": \"p\", \"answer\": [4]}", "answer", "got a list")]
    [InlineData("{\"prompt\": \"p\", \"answer\": \" \"}", "answer", "empty")]
    [InlineData("{\"prompt\": \"p\", \"choices\": [\"a\"], \"answer_index\": 0}", "choices", "two or more")]
    [InlineData("{\"prompt\": \"p\", \"choices\": \"ab\", \"answer_index\": 0}", "choices", "two or more")]
    [InlineData("{\"prompt\": \"p\", \"choices\": [\"a\", 7], \"answer_index\": 0}", "choices[1]", "got 7")]
    [InlineData("{\"prompt\": \"p\", \"choices\": [\"a\", \"\"], \"answer_index\": 0}", "choices[1]", "empty string")]
    [InlineData("{\"prompt\": \"p\", \"choices\": [\"a\", \"b\"], \"answer\": 1}", "answer_index", "missing")]
    [InlineData("{\"prompt\": \"p\", \"choices\": [\"a\", \"b\"], \"answer_index\": 2}", "answer_index", "0 to 1")]
    [InlineData("{\"prompt\": \"p\", \"choices\": [\"a\", \"b\"], \"answer_index\": 0.5}", "answer_index", "got 0.5")]
    [InlineData("{\"prompt\": \"p\", \"answer\": ", null, "malformed JSON")]
    public void ABadRowIsOneLineNamingFileLineAndFieldAndWritesNothing(string badRow, string? field, string expected)
    {
        var data = TempJsonl.Write("{\"prompt\": \"fine\\n\", \"answer\": \"42\"}", badRow);
        var output = Path.Combine(Temp.Directory("eval-bad"), "out");
        var outcome = CliRun.Run("eval", "--model", Bigram.Value, "--data", data, "--output", output);
        var fragments = new List<string> { $"{data}:2:", expected };
        if (field is not null) fragments.Add($"field '{field}'");
        outcome.AssertError(2, [.. fragments]);
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("--tasks", "reasoning,bogus", "'bogus' is not a task; expected a comma-separated list of reasoning, facts")]
    [InlineData("--items", "0", "--items: 0 is out of range")]
    [InlineData("--batch-size", "0", "--batch-size: 0 is out of range")]
    [InlineData("--max-new-tokens", "0", "--max-new-tokens: 0 is out of range")]
    public void BadFlagsAreInputErrors(string flag, string value, string expected) =>
        CliRun.Run("eval", "--model", Bigram.Value, flag, value).AssertError(2, expected);

    [Fact]
    public void AMissingModelOrAdapterIsAnInputErrorAndAFileAsOutputIsTheMachines()
    {
        var empty = Temp.Directory("eval-empty");
        CliRun.Run("eval", "--model", empty).AssertError(2, Path.Combine(empty, "config.json"), "expected a model folder");
        CliRun.Run("eval", "--model", Bigram.Value, "--adapter", empty).AssertError(2, "adapter_config.json", "--adapter");
        var file = Path.Combine(empty, "a-file");
        File.WriteAllText(file, "");
        CliRun.Run("eval", "--model", Bigram.Value, "--tasks", "facts", "--output", file).AssertError(1, file, "is a file");
        CliRun.Run("eval", "--model", Bigram.Value, "--data", Path.Combine(empty, "none.jsonl")).AssertError(2, "none.jsonl", "not found");
    }

    [Fact]
    public void TheCommandWritesEvalJsonAndSamplesAtomically()
    {
        var data = TempJsonl.Write((AnswerRows + "\n" + ChoiceRows).Split('\n'));
        var output = Path.Combine(Temp.Directory("eval-cli"), "out");
        var outcome = CliRun.Run("eval", "--model", Bigram.Value, "--data", data, "--output", output, "--tasks", "perplexity",
            "--items", "4");
        Assert.True(outcome.Code == 0, outcome.Stderr);
        outcome.AssertNoStackTrace();
        Assert.Empty(CliRun.Leftovers(output));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, EvalReport.ResultsFile)));
        var root = json.RootElement;
        Assert.Equal(Path.GetFullPath(Bigram.Value), root.GetProperty("model").GetString());
        Assert.Equal(Path.GetFullPath(data), root.GetProperty("settings").GetProperty("data").GetString());
        var results = root.GetProperty("results");
        Assert.Equal(0.75, results.GetProperty(EvalDataset.AnswerTask).GetProperty("exact_match").GetDouble());
        Assert.Equal(4, results.GetProperty(EvalDataset.AnswerTask).GetProperty("items").GetInt32());
        Assert.Equal(0.5, results.GetProperty(EvalDataset.ChoiceTask).GetProperty("acc").GetDouble());
        Assert.Equal(1.0, results.GetProperty(EvalDataset.ChoiceTask).GetProperty("acc_norm").GetDouble());
        Assert.Equal(4, results.GetProperty("perplexity").GetProperty("items").GetInt32());
        var samples = File.ReadAllLines(Path.Combine(output, EvalReport.SamplesFile))
            .Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(6, samples.Count); // answer and choice rows; perplexity texts have no samples
        Assert.Equal("Answer: 42", samples[0].GetProperty("generation").GetString());
        Assert.Equal("42", samples[0].GetProperty("extracted").GetString());
        Assert.True(samples[0].GetProperty("correct").GetBoolean());
        Assert.Equal(2, samples[4].GetProperty("chosen").GetInt32());
        Assert.Equal("Answer: 42", samples[4].GetProperty("reference").GetString());
    }
}

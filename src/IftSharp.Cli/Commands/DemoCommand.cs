using System.CommandLine;
using System.Diagnostics;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.FrozenLake;
using IftSharp.Models;
using IftSharp.Tokenization;
using IftSharp.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp demo</c>: a short end-to-end demonstration that grows with the product.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output") { Description = "Folder for the demo's files.", DefaultValueFactory = _ => "runs/demo" };
        var steps = new Option<int>("--steps") { Description = "IFT training steps of the tiny language model.", DefaultValueFactory = _ => 500 };
        var command = new Command("demo", "A short end-to-end demonstration (under 3 minutes on 2 cores): Frozen Lake, then a tiny language model trained with IFT.");
        command.Options.Add(output); command.Options.Add(steps);
        command.SetAction(parse => CliErrors.Run(() => Run(parse.GetValue(output)!, parse.GetValue(steps))));
        return command;
    }

    private static int Run(string output, int steps)
    {
        AnsiConsole.Write(new Rule("[bold]IftSharp demo[/]"));
        using (NewDisposeScope())
        {
            var x = randn(4, 4, requires_grad: true);
            (x * x).sum().backward();
            AnsiConsole.MarkupLine($"TorchSharp {Markup.Escape(torch.__version__)} loaded; autograd check: {(x.grad!.allclose(x.Times(2)) ? "[green]ok[/]" : "[red]failed[/]")}; {get_num_threads()} threads.");
        }

        AnsiConsole.Write(new Rule("1. Frozen Lake (IFT paper §5.3), 3 seeds"));
        AnsiConsole.MarkupLine("Six methods fine-tune the same policy network from trajectory data; lower MSE is closer to the optimal policy.");
        var result = FrozenLakeExperiment.Run(new FrozenLakeSettings { Seeds = 3 });
        var lakeDir = Path.Combine(output, "frozenlake");
        FrozenLakeReport.Write(result, lakeDir);
        FrozenLakeCommand.Render(result);
        AnsiConsole.MarkupLine($"Plot: [bold]{Markup.Escape(Path.Combine(lakeDir, "frozenlake.png"))}[/] (full run: iftsharp frozenlake).");

        AnsiConsole.Write(new Rule("2. A tiny language model trained with IFT"));
        TrainTinyModel(Path.Combine(output, "ift-model"), steps);
        return 0;
    }

    private static void TrainTinyModel(string modelDir, int steps)
    {
        var dataDir = Path.Combine(AppContext.BaseDirectory, "data", "demo");
        var tokenizer = new ByteLevelTokenizer();
        var template = new ChatMlTemplate();
        var train = ConversationDataset.ReadConversations(Path.Combine(dataDir, "train.jsonl"));
        var eval = ConversationDataset.ReadConversations(Path.Combine(dataDir, "eval.jsonl"));
        var examples = train.Select(c => ConversationDataset.Tokenize(c, tokenizer, template, maxLength: 128)).ToList();
        var config = new DecoderConfig
        {
            ModelType = "llama", HiddenSize = 128, IntermediateSize = 344, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            VocabSize = tokenizer.VocabSize, MaxPositionEmbeddings = 256, TieWordEmbeddings = true, RmsNormEps = 1e-5,
            EosTokenId = [tokenizer.EosTokenId!.Value], PadTokenId = tokenizer.PadTokenId,
        };
        using var model = ModelFactory.CreateFromConfig(config, seed: 0);
        AnsiConsole.MarkupLine($"Model: Llama-style, {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, GQA {config.NumAttentionHeads}/{config.NumKeyValueHeads} heads, byte-level vocabulary of {config.VocabSize}; {model.parameters().Sum(p => p.numel()):N0} parameters.");
        AnsiConsole.MarkupLine($"Data: {examples.Count} conversations (data/demo/train.jsonl), loss on assistant tokens only; IFT λ 0.2, γ 0.95, AdamW lr 3e-3, cosine, {steps} steps of 16.");

        // Three prompts seen in training and three held out: a 0.4 M-parameter model memorises its data; whether
        // it generalises the arithmetic is the honest question.
        var shown = train.Take(3).Select(c => (Set: "train", Conversation: c)).Concat(eval.Take(3).Select(c => (Set: "held out", Conversation: c))).ToList();
        var prompts = shown.Select(x => x.Conversation.TakeWhile(m => m.Role != "assistant").ToList()).ToList();
        var before = Answers(model, tokenizer, template, prompts);

        var options = new TrainerOptions { Method = "ift", LearningRate = 3e-3, MaxSteps = steps, BatchSize = 16, OutputDirectory = modelDir };
        var metricsFile = Path.Combine(modelDir, "metrics.jsonl");
        if (File.Exists(metricsFile)) File.Delete(metricsFile);
        var clock = Stopwatch.StartNew();
        IReadOnlyList<StepMetrics> history = [];
        if (Console.IsOutputRedirected)
            history = Trainer.Train(model, examples, tokenizer.PadTokenId!.Value, options, m =>
            {
                if (m.Step % 50 == 0 || m.Step == 1) Console.WriteLine($"step {m.Step}/{steps} loss {m.Loss:F4} lr {m.LearningRate:G3} {m.TokensPerSecond:F0} tokens/s");
            });
        else
            AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("IFT", maxValue: steps);
                    history = Trainer.Train(model, examples, tokenizer.PadTokenId!.Value, options, m =>
                    {
                        task.Description = $"IFT step {m.Step} loss {m.Loss:F3}";
                        task.Increment(1);
                    });
                });
        AnsiConsole.MarkupLine($"Trained in {clock.Elapsed.TotalSeconds:F0} s: loss {history[0].Loss:F3} → {history[^1].Loss:F3}.");

        var after = Answers(model, tokenizer, template, prompts);
        var table = new Table().AddColumns("prompt", "set", "reference", "before training", "after IFT");
        for (int i = 0; i < prompts.Count; i++)
            table.AddRow(Markup.Escape(prompts[i][^1].Text), shown[i].Set,
                Markup.Escape(shown[i].Conversation.First(m => m.Role == "assistant").Text),
                Markup.Escape(Shown(before[i])), Markup.Escape(Shown(after[i])));
        AnsiConsole.Write(table);

        model.SavePretrained(modelDir);
        tokenizer.Save(modelDir);
        AnsiConsole.MarkupLine($"Saved the model in Hugging Face format to [bold]{Markup.Escape(modelDir)}[/] (config.json, model.safetensors, tokenizer files, metrics.jsonl).");
    }

    private static List<string> Answers(LlamaForCausalLM model, ITokenizer tokenizer, IChatTemplate template, List<List<ChatMessage>> prompts)
    {
        var ids = prompts.Select(p => (IReadOnlyList<int>)tokenizer.Encode(template.Render(p, addGenerationPrompt: true).Text).Ids.ToList()).ToList();
        var result = TokenGenerator.Generate(model, ids, new GenerationOptions { MaxNewTokens = 24, Temperature = 0, EosTokenIds = [tokenizer.EosTokenId!.Value] });
        return result.Tokens.Select(t => tokenizer.Decode(t, skipSpecialTokens: true).Trim()).ToList();
    }

    private static string Shown(string s) => s.Length == 0 ? "(nothing: ends at once)" : s.Length <= 28 ? s : s[..28] + "…";
}

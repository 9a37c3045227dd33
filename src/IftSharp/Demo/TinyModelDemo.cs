using IftSharp.Data;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Tokenization;
using IftSharp.Training;

namespace IftSharp.Demo;

/// <summary>One prompt of the demo: the reference answer and the model's greedy answers before and after training.</summary>
public sealed record DemoAnswer(string Prompt, string Set, string Reference, string Before, string After);

/// <summary>What the demo's language-model part did.</summary>
public sealed record DemoResult(ITrainingMethod Method, DecoderConfig Config, long Parameters, int Examples,
    IReadOnlyList<StepMetrics> History, double Seconds, IReadOnlyList<DemoAnswer> Answers, string ModelDirectory);

/// <summary>
/// The demo's language model: a tiny Llama-style model (byte-level vocabulary) initialised from scratch, trained with
/// IFT through <see cref="TrainingRun"/> on the bundled dataset, and asked three training and three held-out prompts
/// before and after. A 0.4 M-parameter model memorises its data; whether it generalises the arithmetic is the honest question.
/// </summary>
public static class TinyModelDemo
{
    /// <summary>The method the demo shows.</summary>
    public static ITrainingMethod Method => MethodRegistry.Get("ift");

    public static TrainerOptions Trainer(int steps) => new() { LearningRate = 3e-3, MaxSteps = steps, BatchSize = 16 };

    /// <param name="dataDirectory">The folder of the bundled <c>train.jsonl</c> and <c>eval.jsonl</c>.</param>
    /// <param name="output">The demo's folder: the initial model goes to <c>base-model</c>, the trained one to <c>ift-model</c>.</param>
    public static DemoResult Run(string dataDirectory, string output, int steps, Action<StepMetrics>? onStep = null,
        Action<DecoderConfig, long>? onModel = null)
    {
        var tokenizer = new ByteLevelTokenizer();
        var template = new ChatMlTemplate();
        var config = new DecoderConfig
        {
            ModelType = "llama", HiddenSize = 128, IntermediateSize = 344, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            VocabSize = tokenizer.VocabSize, MaxPositionEmbeddings = 256, TieWordEmbeddings = true, RmsNormEps = 1e-5,
            EosTokenId = [tokenizer.EosTokenId!.Value], PadTokenId = tokenizer.PadTokenId,
        };
        var baseDir = Path.Combine(output, "base-model");
        var modelDir = Path.Combine(output, $"{Method.Name}-model");
        long parameters;
        using (var model = ModelFactory.CreateFromConfig(config, seed: 0))
        {
            parameters = model.parameters().Sum(p => p.numel());
            model.SavePretrained(baseDir);
            tokenizer.Save(baseDir);
        }
        onModel?.Invoke(config, parameters);

        var train = ConversationDataset.ReadConversations(Path.Combine(dataDirectory, "train.jsonl"));
        var eval = ConversationDataset.ReadConversations(Path.Combine(dataDirectory, "eval.jsonl"));
        var shown = train.Take(3).Select(c => (Set: "train", Conversation: c))
            .Concat(eval.Take(3).Select(c => (Set: "held out", Conversation: c))).ToList();
        var prompts = shown.Select(x => x.Conversation.TakeWhile(m => m.Role != "assistant").ToList()).ToList();
        var before = Answers(baseDir, tokenizer, template, prompts);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = TrainingRun.Run(new TrainingRunOptions
        {
            Method = Method.Name, Model = baseDir, Dataset = Path.Combine(dataDirectory, "train.jsonl"), Output = modelDir, MaxLength = 128,
            Trainer = Trainer(steps), Overwrite = true, // the demo's folder holds the demo's last run
        }, new TrainingRunCallbacks { OnStep = onStep });
        double seconds = clock.Elapsed.TotalSeconds;
        var after = Answers(modelDir, tokenizer, template, prompts);
        var answers = shown.Select((x, i) => new DemoAnswer(prompts[i][^1].Text, x.Set,
            x.Conversation.First(m => m.Role == "assistant").Text, before[i], after[i])).ToList();
        return new DemoResult(Method, config, parameters, train.Count, result.History, seconds, answers, modelDir);
    }

    private static List<string> Answers(string modelDir, ITokenizer tokenizer, IChatTemplate template, List<List<ChatMessage>> prompts)
    {
        using var model = LlamaForCausalLM.FromPretrained(modelDir);
        var ids = prompts
            .Select(p => (IReadOnlyList<int>)tokenizer.Encode(template.Render(p, addGenerationPrompt: true).Text).Ids.ToList())
            .ToList();
        var greedy = new GenerationOptions { MaxNewTokens = 24, Temperature = 0, EosTokenIds = [tokenizer.EosTokenId!.Value] };
        var result = TokenGenerator.Generate(model, ids, greedy);
        return result.Tokens.Select(t => tokenizer.Decode(t, skipSpecialTokens: true).Trim()).ToList();
    }
}

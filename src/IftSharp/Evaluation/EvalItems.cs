using IftSharp.Data;
using IftSharp.Objectives;
using IftSharp.Tokenization;

namespace IftSharp.Evaluation;

/// <summary>
/// A question scored by exact match: the model's greedy answer to <see cref="PromptIds"/>, its final answer read by
/// <see cref="EvalAnswers.Extract"/>, compared with <see cref="Answer"/>. <see cref="Key"/> names the item (the suite
/// item's key, or <c>file:line</c>) so results of two models pair up item by item; <see cref="Prompt"/> is the text the
/// model reads (chat template and generation prompt included).
/// </summary>
public sealed record AnswerItem(string Key, string Prompt, IReadOnlyList<int> PromptIds, string Answer, bool RequireAnswerLine);

/// <summary>
/// A multiple-choice question: one scored row per choice (the choice's tokens labelled after the unlabelled prompt),
/// the choices as shown, the index of the right one, and each choice's length in characters (<c>acc_norm</c> divides
/// the log-likelihood by it, as lm-evaluation-harness does).
/// </summary>
public sealed record ChoiceItem(string Key, string Prompt, IReadOnlyList<string> Choices, IReadOnlyList<TrainingExample> Rows,
    int AnswerIndex, IReadOnlyList<int> Characters);

/// <summary>One task to score: its name and its items, all of one kind.</summary>
public abstract record EvalTaskSet(string Name)
{
    public abstract int Count { get; }
}

/// <summary>Exact match of greedy generations.</summary>
public sealed record AnswerTaskSet(string Name, IReadOnlyList<AnswerItem> Items) : EvalTaskSet(Name)
{
    public override int Count => Items.Count;
}

/// <summary>Log-likelihood choice among options.</summary>
public sealed record ChoiceTaskSet(string Name, IReadOnlyList<ChoiceItem> Items) : EvalTaskSet(Name)
{
    public override int Count => Items.Count;
}

/// <summary>Perplexity of texts (each cut to the model's maximum length, no special tokens added).</summary>
public sealed record PerplexityTaskSet(string Name, IReadOnlyList<string> Texts) : EvalTaskSet(Name)
{
    public override int Count => Texts.Count;
}

/// <summary>The generated suite's tasks as <see cref="EvalTaskSet"/>s, tokenised for one model's tokenizer and template.</summary>
public static class SuiteTaskSets
{
    /// <summary>
    /// <paramref name="count"/> items of <paramref name="task"/> from <paramref name="split"/> drawn with
    /// <paramref name="seed"/> (multiple choice has fewer items than that in a split: all of them). Questions are asked as
    /// one user message with the generation prompt; answers need their <c>Answer:</c> line, as the suite's targets write it;
    /// a choice is scored as the assistant's reply <c>Answer: X</c> with its end-of-turn marker, as <c>compare</c> scores it.
    /// </summary>
    public static EvalTaskSet Build(SuiteTask task, TaskSplit split, int count, int seed, ITokenizer tokenizer, IChatTemplate? template,
        int maxLength)
    {
        var name = EvalOptions.NameOf(task);
        if (task == SuiteTask.Perplexity) return new PerplexityTaskSet(name, PretrainingCorpus.HeldOut(count, seed));
        var chat = template ?? throw new Core.InputException(
            $"--tasks {name}: the model's tokenizer has no chat_template, and the suite asks its questions as chat messages; " +
            "use --tasks perplexity or --data with plain-string prompts");
        var kind = task switch
        {
            SuiteTask.Reasoning => TaskKind.Reasoning,
            SuiteTask.Facts => TaskKind.FactFollowing,
            _ => TaskKind.MultipleChoice,
        };
        var items = TaskSuite.Items(kind, split, count, seed);
        if (task == SuiteTask.Choice) return new ChoiceTaskSet(name, items.Select(i => Choice(i, tokenizer, chat, maxLength)).ToList());
        return new AnswerTaskSet(name, items.Select(item =>
        {
            var prompt = chat.RenderText([new ChatMessage("user", item.Prompt)], addGenerationPrompt: true);
            return new AnswerItem(item.Key, prompt, tokenizer.Encode(prompt).Ids, item.Answer, RequireAnswerLine: true);
        }).ToList());
    }

    private static ChoiceItem Choice(TaskExample item, ITokenizer tokenizer, IChatTemplate template, int maxLength)
    {
        var prompt = template.RenderText([new ChatMessage("user", item.Prompt)], addGenerationPrompt: true);
        var rows = item.Options.Select(option => ConversationDataset.Tokenize(
            [new ChatMessage("user", item.Prompt), new ChatMessage("assistant", MultipleChoiceTask.Completion(option))],
            tokenizer, template, maxLength)).ToList();
        var characters = item.Options.Select(o => MultipleChoiceTask.Completion(o).Length).ToList();
        return new ChoiceItem(item.Key, prompt, item.Options, rows, IndexOf(item.Options, item.Answer), characters);
    }

    private static int IndexOf(IReadOnlyList<string> options, string answer)
    {
        for (int i = 0; i < options.Count; i++) if (options[i] == answer) return i;
        throw new InvalidOperationException($"the answer '{answer}' is not among the options");
    }

    /// <summary>Labels only the tokens from <paramref name="start"/> on.</summary>
    internal static TrainingExample Continuation(IReadOnlyList<int> ids, int start) =>
        new([.. ids], ids.Select((id, i) => i < start ? TokenLogProbs.IgnoreIndex : id).ToArray());
}

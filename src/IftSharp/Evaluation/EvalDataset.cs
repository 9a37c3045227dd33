using System.Text.Json;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Tokenization;

namespace IftSharp.Evaluation;

/// <summary>
/// A user's evaluation file (JSONL, or Parquet when the name ends in <c>.parquet</c>), each row by its shape:
/// <list type="bullet">
/// <item><c>prompt</c> + <c>answer</c>: exact match of the final answer of the greedy generation;</item>
/// <item><c>prompt</c> + <c>choices</c> + <c>answer_index</c>: the choice with the highest log-likelihood after the
/// prompt wins (lm-evaluation-harness's <c>multiple_choice</c> scoring of ARC and MMLU).</item>
/// </list>
/// <c>prompt</c> is a string (tokenised as it is, with the tokenizer's special tokens such as BOS) or a list of messages
/// (rendered by the model's chat template with the generation prompt, the row's <c>tools</c> and
/// <c>chat_template_kwargs</c> passed to it). A bad row stops the run with <c>file:line: field '...': ...</c>.
/// </summary>
public static class EvalDataset
{
    public const string AnswerTask = "data-answer", ChoiceTask = "data-choice";

    /// <summary>
    /// The file's answer rows and choice rows as two task sets (null where the file has none), at most
    /// <paramref name="limit"/> of each, in file order. A generation prompt keeps its last
    /// <c>maxLength − maxNewTokens</c> tokens and a choice row its last <paramref name="maxLength"/> (the harness's
    /// rules); <paramref name="log"/> hears how many were cut.
    /// </summary>
    public static (AnswerTaskSet? Answers, ChoiceTaskSet? Choices) Read(string path, ITokenizer tokenizer, IChatTemplate? template,
        int maxLength, int maxNewTokens, int? limit = null, Action<string>? log = null)
    {
        var answers = new List<AnswerItem>();
        var choices = new List<ChoiceItem>();
        int cutPrompts = 0, cutChoices = 0;
        var file = Path.GetFileName(path);
        foreach (var (line, row) in DatasetRows.Read(path))
        {
            if (row.ValueKind != JsonValueKind.Object)
                throw InputException.At(path, line, null, $"expected a JSON object; got {DatasetMessages.Kind(row)}");
            if (!row.TryGetProperty("prompt", out var promptValue))
                throw InputException.At(path, line, "prompt", "missing; expected the question as a string or a list of messages");
            var prompt = DatasetMessages.Field(promptValue, path, line, "prompt");
            if (prompt.Text is { Length: 0 } || prompt.Messages is { Count: 0 })
                throw InputException.At(path, line, "prompt", "empty; expected the question as a string or a list of messages");
            bool isChoice = row.TryGetProperty("choices", out var choicesValue);
            if (!isChoice && !row.TryGetProperty("answer", out _))
                throw InputException.At(path, line, "answer",
                    "missing; expected 'answer' (exact match) or 'choices' with 'answer_index' (multiple choice)");
            if (limit is int n && (isChoice ? choices.Count : answers.Count) >= n) continue;
            var context = new RowContext(path, line) { Arguments = DatasetMessages.Arguments(row, path, line) };
            var (text, special) = Context(prompt, template, context);
            var key = $"{file}:{line}";
            if (isChoice)
            {
                var item = Choice(row, choicesValue, key, text, special, tokenizer, maxLength, context, out bool cut);
                choices.Add(item);
                if (cut) cutChoices++;
            }
            else
            {
                var ids = tokenizer.Encode(text, addSpecialTokens: special).Ids;
                if (ids.Count == 0) throw InputException.At(path, line, "prompt", "no tokens; expected a non-empty question");
                int keep = Math.Max(1, maxLength - maxNewTokens);
                if (ids.Count > keep) { ids = ids.Skip(ids.Count - keep).ToList(); cutPrompts++; }
                answers.Add(new AnswerItem(key, text, ids, Answer(row, path, line), RequireAnswerLine: false));
            }
        }
        if (answers.Count + choices.Count == 0)
            throw new InputException($"{path}: no rows; expected prompt + answer or prompt + choices + answer_index");
        if (cutPrompts > 0)
            log?.Invoke($"{path}: {cutPrompts} prompts kept their last {Math.Max(1, maxLength - maxNewTokens)} tokens " +
                $"(max_position_embeddings {maxLength} − --max-new-tokens {maxNewTokens})");
        if (cutChoices > 0) log?.Invoke($"{path}: {cutChoices} multiple-choice rows kept their last {maxLength} tokens");
        return (answers.Count > 0 ? new AnswerTaskSet(AnswerTask, answers) : null,
            choices.Count > 0 ? new ChoiceTaskSet(ChoiceTask, choices) : null);
    }

    /// <summary>The text the model continues, and whether the tokenizer adds its special tokens (not after a chat template,
    /// which writes its own).</summary>
    private static (string Text, bool AddSpecialTokens) Context(TextOrMessages prompt, IChatTemplate? template, RowContext row)
    {
        if (!prompt.IsConversational) return (prompt.Text!, true);
        var chat = template ?? throw InputException.At(row.Source, row.Line, "prompt",
            "a list of messages needs the tokenizer's chat_template; the model has none (write the prompt as a string)");
        try { return (chat.RenderText(prompt.Messages!, addGenerationPrompt: true, row.Arguments), false); }
        catch (InputException e) { throw InputException.At(row.Source, row.Line, "prompt", e.Message); }
    }

    private static string Answer(JsonElement row, string path, int line)
    {
        var value = row.GetProperty("answer");
        var answer = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Number => value.GetRawText(),
            _ => throw InputException.At(path, line, "answer",
                $"expected the reference answer as a string or a number; got {DatasetMessages.Kind(value)}"),
        };
        if (EvalAnswers.Normalise(answer).Length == 0)
            throw InputException.At(path, line, "answer", "empty; expected the reference answer");
        return answer;
    }

    /// <summary>
    /// One choice row: for each choice, the ids of prompt + choice with the choice's tokens labelled. As the harness's
    /// <c>_encode_pair</c>: white space ending the prompt moves to the start of the choice, the prompt is tokenised alone,
    /// and the choice's tokens are those of the whole after as many as the prompt has.
    /// </summary>
    private static ChoiceItem Choice(JsonElement row, JsonElement value, string key, string text, bool special, ITokenizer tokenizer,
        int maxLength, RowContext context, out bool cut)
    {
        string path = context.Source;
        int line = context.Line;
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() < 2)
            throw InputException.At(path, line, "choices", $"expected a list of two or more strings; got {Described(value)}");
        var options = new List<string>();
        int index = 0;
        foreach (var c in value.EnumerateArray())
        {
            if (c.ValueKind != JsonValueKind.String || c.GetString()!.Length == 0)
                throw InputException.At(path, line, $"choices[{index}]", $"expected a non-empty string; got {Described(c)}");
            options.Add(c.GetString()!);
            index++;
        }
        if (!row.TryGetProperty("answer_index", out var a))
            throw InputException.At(path, line, "answer_index",
                $"missing; expected the index of the right choice, 0 to {options.Count - 1}");
        if (a.ValueKind != JsonValueKind.Number || !a.TryGetInt32(out int answer) || answer < 0 || answer >= options.Count)
            throw InputException.At(path, line, "answer_index",
                $"expected a whole number from 0 to {options.Count - 1} (the index of the right choice); got {Described(a)}");

        var trimmed = text.TrimEnd();
        var moved = text[trimmed.Length..];
        int start = tokenizer.Encode(trimmed, addSpecialTokens: special).Ids.Count;
        var rows = new List<TrainingExample>();
        cut = false;
        for (int i = 0; i < options.Count; i++)
        {
            var ids = tokenizer.Encode(trimmed + moved + options[i], addSpecialTokens: special).Ids;
            if (ids.Count <= start)
                throw InputException.At(path, line, $"choices[{i}]", "no tokens after the prompt; expected a non-empty choice");
            int drop = Math.Max(0, ids.Count - maxLength);
            if (drop >= start)
                throw InputException.At(path, line, $"choices[{i}]",
                    $"the choice alone fills max_position_embeddings ({maxLength} tokens)");
            if (drop > 0) cut = true;
            rows.Add(SuiteTaskSets.Continuation(ids.Skip(drop).ToList(), start - drop));
        }
        return new ChoiceItem(key, text, options, rows, answer, options.Select(o => o.Length).ToList());
    }

    private static string Described(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString()!.Length == 0 ? "an empty string" : $"\"{e.GetString()}\"",
        JsonValueKind.Number => e.GetRawText(),
        JsonValueKind.Array => $"a list of {e.GetArrayLength()}",
        _ => DatasetMessages.Kind(e),
    };
}

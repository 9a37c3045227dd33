using System.Globalization;
using System.Text.Json;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Tokenization;

/// <summary>
/// Every real chat template (the npm tokenizer packages' Qwen3, Llama-3, Llama-3.1, Gemma-3 and DeepSeek-V3 templates;
/// the published Llama-3.1/3.2-Instruct, gpt-oss, Mistral-Instruct v0.1 and v0.3, Llama-2-chat, Zephyr and Qwen2
/// templates) against Python's Jinja2 set up as transformers sets it up
/// (Fixtures/tools/make_real_template_fixtures.py): string content, lists of text parts, null content beside tool calls,
/// tool messages, reasoning, a tools list and template keyword arguments, with and without the generation prompt.
/// Where Python raises the template's own exception we raise its message; where Python fails otherwise, we fail too.
/// </summary>
public class RealChatTemplateTests
{
    private static readonly JsonElement Reference = Fixture.Json("tokenization", "real_template_reference.json");
    private static readonly DateTime Clock = DateTime.Parse(Reference.GetProperty("clock").GetString()!, CultureInfo.InvariantCulture);

    public static TheoryData<string> Templates() =>
        [.. Reference.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("template").GetString()!).Distinct()];

    internal static JinjaChatTemplate Load(string name)
    {
        var source = File.ReadAllText(Fixture.PathOf("tokenization", "templates", name + ".jinja"));
        var tokens = Fixture.Json("tokenization", "templates", name + ".tokens.json").EnumerateObject()
            .ToDictionary(p => p.Name, p => (object?)p.Value);
        return new JinjaChatTemplate(source, tokens) { Clock = () => Clock };
    }

    private static List<IReadOnlyDictionary<string, object?>> Dicts(JsonElement messages) =>
        messages.EnumerateArray().Select(m => (IReadOnlyDictionary<string, object?>)m.EnumerateObject()
            .ToDictionary(p => p.Name, p => (object?)p.Value)).ToList();

    private static Dictionary<string, object?> Context(JsonElement c)
    {
        var context = c.GetProperty("kwargs").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        if (c.GetProperty("tools").GetBoolean()) context["tools"] = Reference.GetProperty("tools");
        return context;
    }

    private static IEnumerable<JsonElement> Cases(string template) =>
        Reference.GetProperty("cases").EnumerateArray().Where(c => c.GetProperty("template").GetString() == template);

    /// <summary>Checks one render against the fixture: the text, the template's own error, or a failure.</summary>
    private static void Check(JsonElement c, string key, Func<string> render, List<string> failures)
    {
        var what = $"{c.GetProperty("template").GetString()}/{c.GetProperty("conversation").GetString()}" +
            $"{(c.GetProperty("tools").GetBoolean() ? "+tools" : "")}{c.GetProperty("kwargs")}/{key}";
        string? actual = null;
        string? error = null;
        try { actual = render(); }
        catch (InputException e) { error = e.Message; }
        if (c.TryGetProperty(key, out var expected))
        {
            if (expected.GetString() != actual)
                failures.Add($"{what}\n  expected: {expected.GetString()}\n  actual:   {actual ?? "threw " + error}");
        }
        else if (c.TryGetProperty(key + "_error", out var raised))
        {
            if (raised.GetString() != error)
                failures.Add($"{what}\n  expected the template to raise: {raised.GetString()}\n  got: {error ?? actual}");
        }
        else if (error is null)
            failures.Add($"{what}\n  Python failed ({c.GetProperty(key + "_failure").GetString()}) but we rendered: {actual}");
    }

    [Theory]
    [MemberData(nameof(Templates))]
    public void RendersEveryCaseExactlyAsJinja2(string name)
    {
        var template = Load(name);
        var conversations = Reference.GetProperty("conversations");
        var failures = new List<string>();
        int count = 0;
        foreach (var c in Cases(name))
        {
            var messages = Dicts(conversations.GetProperty(c.GetProperty("conversation").GetString()!));
            Check(c, "text", () => template.RenderText(messages, false, Context(c)), failures);
            Check(c, "generation_prompt_text", () => template.RenderText(messages, true, Context(c)), failures);
            count++;
        }
        Assert.True(count >= 30, $"only {count} cases");
        Assert.True(failures.Count == 0, $"{failures.Count} renders differ:\n" + string.Join("\n", failures.Take(5)));
    }

    /// <summary>
    /// The same renders through the dataset path: the fixture's messages read as dataset rows (ChatMessage, with its
    /// tool calls and content parts) and the tools and keyword arguments as a row's tools and chat_template_kwargs.
    /// Rows the readers refuse (image parts, a tool message without a call) are skipped.
    /// </summary>
    [Theory]
    [MemberData(nameof(Templates))]
    public void DatasetMessagesRenderAsTheirJson(string name)
    {
        var template = Load(name);
        var conversations = Reference.GetProperty("conversations");
        var failures = new List<string>();
        int count = 0;
        foreach (var c in Cases(name))
        {
            var conversation = conversations.GetProperty(c.GetProperty("conversation").GetString()!);
            List<ChatMessage> messages;
            try { messages = DatasetMessages.Parse(conversation, "fixture", 1, "messages"); }
            catch (InputException) { continue; }
            var row = JsonSerializer.SerializeToElement(new Dictionary<string, object?>
            {
                ["tools"] = c.GetProperty("tools").GetBoolean() ? Reference.GetProperty("tools") : null,
                ["chat_template_kwargs"] = c.GetProperty("kwargs"),
            });
            var arguments = DatasetMessages.Arguments(row, "fixture", 1);
            Check(c, "text", () => template.RenderText(messages, false, arguments), failures);
            Check(c, "generation_prompt_text", () => template.RenderText(messages, true, arguments), failures);
            count++;
        }
        Assert.True(count >= 25, $"only {count} cases");
        Assert.True(failures.Count == 0, $"{failures.Count} renders differ:\n" + string.Join("\n", failures.Take(5)));
    }

    private static List<string> SpanTexts(string template, string conversation, bool tools = false)
    {
        var messages = Dicts(Reference.GetProperty("conversations").GetProperty(conversation));
        var context = tools ? new Dictionary<string, object?> { ["tools"] = Reference.GetProperty("tools") } : null;
        var rendered = Load(template).Render(messages, false, context);
        var expected = Cases(template).Single(c => c.GetProperty("conversation").GetString() == conversation
            && c.GetProperty("tools").GetBoolean() == tools && c.GetProperty("kwargs").EnumerateObject().Count() == 0);
        Assert.Equal(expected.GetProperty("text").GetString(), rendered.Text);
        return rendered.AssistantSpans.Select(s => rendered.Text[s.Start..s.End]).ToList();
    }

    /// <summary>
    /// Templates without generation blocks: a tool-call turn with no content starts where the conversation before it,
    /// rendered with the generation prompt, ends and runs through its end-of-turn token; calls after content extend the
    /// content's span to it; a turn the template never closes before the tool's answer is refused (hand-checked renders).
    /// </summary>
    [Fact]
    public void LocatedSpansCoverToolCallTurnsThroughTheirEndOfTurn()
    {
        Assert.Equal(["<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 2, \"b\": 3}}\n</tool_call><|im_end|>", "5<|im_end|>"],
            SpanTexts("qwen3", "tool_call_empty_content"));
        Assert.Equal(["Let me add them.\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 2, \"b\": 3}}\n</tool_call><|im_end|>"],
            SpanTexts("qwen3", "tool_call_with_text"));
        Assert.Equal(["{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Zürich\", \"days\": 2}}<|eot_id|>",
            "21.5 °C in Zürich.<|eot_id|>"],
            SpanTexts("llama3_1_instruct", "tool_call_null_content", tools: true));
        Assert.Equal(["[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 2, \"b\": 3}, \"id\": \"call0002b\"}]</s>", "5</s>"],
            SpanTexts("mistral_v03", "tool_call_empty_content"));
        Assert.Equal([" to=functions.add<|channel|>commentary json<|message|>{\"a\": 2, \"b\": 3}<|call|>", "5<|return|>"],
            SpanTexts("gpt_oss", "tool_call_empty_content"));
        var calls = SpanTexts("deepseek_v3", "two_tool_calls");
        Assert.StartsWith("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function", calls[0]);
        Assert.EndsWith("```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>", calls[0]);
        Assert.Equal(["General Kenobi.<end_of_turn>"], SpanTexts("gemma3", "content_parts"));
        // DeepSeek-V3's template never closes a single tool call: its span would run into the tool's answer
        var open = Assert.Throws<InputException>(() => SpanTexts("deepseek_v3", "tool_call_string_arguments"));
        Assert.Contains("message 1 (assistant): no end-of-turn marker closes its tool calls before the next message", open.Message);
        // Mistral v0.3 moves the system message into the last user turn, so the prompt before the call is not a prefix
        var moved = Assert.Throws<InputException>(() => SpanTexts("mistral_v03", "tool_call_null_content"));
        Assert.Contains("message 2 (assistant) has tool calls and no content", moved.Message);
    }

    [Fact]
    public void GenerationBlocksOfARealTemplateGiveTheSpansTransformersRecords()
    {
        var template = Load("qwen3_generation");
        Assert.True(template.HasGenerationBlocks);
        var conversations = Reference.GetProperty("conversations");
        int compared = 0;
        foreach (var c in Cases("qwen3_generation"))
        {
            var messages = Dicts(conversations.GetProperty(c.GetProperty("conversation").GetString()!));
            foreach (var (key, gen) in new[] { ("text", false), ("generation_prompt_text", true) })
            {
                if (!c.TryGetProperty(key + "_spans", out var expected)) continue;
                var rendered = template.Render(messages, gen, Context(c));
                Assert.True(rendered.FromGenerationBlocks);
                Assert.Equal(expected.EnumerateArray().Select(s => (s[0].GetInt32(), s[1].GetInt32())).ToList(), rendered.AssistantSpans);
                compared += rendered.AssistantSpans.Count;
            }
        }
        Assert.True(compared >= 40, $"only {compared} spans compared");
    }
}

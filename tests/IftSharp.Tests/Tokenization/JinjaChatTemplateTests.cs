using System.Text.Json;
using IftSharp.Core;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Tokenization;

/// <summary>
/// Golden renderings from Python's Jinja2 set up as transformers sets it up (Fixtures/tools/make_chat_template_fixtures.py)
/// for real templates (Qwen2, Qwen3, Llama-3, Zephyr, Mistral-Instruct), ChatML with and without generation blocks, and a
/// template exercising the supported subset.
/// </summary>
public class JinjaChatTemplateTests
{
    private static readonly JsonElement Reference = Fixture.Json("tokenization", "chat_template_reference.json");

    private static JinjaChatTemplate Load(string name)
    {
        var source = File.ReadAllText(Fixture.PathOf("tokenization", "templates", name + ".jinja"));
        var tokens = Fixture.Json("tokenization", "templates", name + ".tokens.json").EnumerateObject()
            .ToDictionary(p => p.Name, p => (object?)p.Value);
        return new JinjaChatTemplate(source, tokens);
    }

    private static List<JsonElement> Cases(string template) =>
        Reference.EnumerateArray().Where(c => c.GetProperty("template").GetString() == template).ToList();

    private static List<IReadOnlyDictionary<string, object?>> Messages(JsonElement c) =>
        c.GetProperty("messages").EnumerateArray()
            .Select(m => (IReadOnlyDictionary<string, object?>)m.EnumerateObject()
                .ToDictionary(p => p.Name, p => (object?)p.Value)).ToList();

    private static List<ChatMessage> ChatMessages(JsonElement c) =>
        c.GetProperty("messages").EnumerateArray()
            .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList();

    private static List<(int, int)> Spans(JsonElement e) => e.EnumerateArray().Select(s => (s[0].GetInt32(), s[1].GetInt32())).ToList();

    [Theory]
    [InlineData("chatml")]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    [InlineData("llama3")]
    [InlineData("zephyr")]
    [InlineData("mistral")]
    [InlineData("features")]
    [InlineData("chatml_generation")]
    public void RendersEveryConversationExactlyAsJinja2(string name)
    {
        var template = Load(name);
        var cases = Cases(name);
        Assert.Equal(10, cases.Count);
        foreach (var c in cases)
        {
            var messages = Messages(c);
            foreach (var (key, gen) in new[] { ("text", false), ("generation_prompt_text", true) })
            {
                var what = $"{name}/{c.GetProperty("conversation").GetString()}/{key}";
                if (c.TryGetProperty(key, out var expected))
                    Assert.True(expected.GetString() == template.RenderText(messages, gen),
                        what + "\n" + template.RenderText(messages, gen));
                else
                {
                    var e = Assert.Throws<InputException>(() => template.RenderText(messages, gen));
                    Assert.Equal(c.GetProperty(key + "_error").GetString(), e.Message);
                }
            }
        }
    }

    /// <summary>Small templates at the corners of the semantics; where Python raises, we must raise an InputException too.</summary>
    [Fact]
    public void SnippetsRenderAsJinja2OrFailWhereItFails()
    {
        var c = Cases("chatml").Single(c => c.GetProperty("conversation").GetString() == "system_multi_turn");
        var messages = Messages(c);
        var tokens = new Dictionary<string, object?> { ["eos_token"] = "</s>" };
        var failures = new List<string>();
        int count = 0;
        foreach (var snippet in Fixture.Json("tokenization", "jinja_snippets_reference.json").EnumerateArray())
        {
            count++;
            var source = snippet.GetProperty("source").GetString()!;
            string? actual;
            try { actual = new JinjaChatTemplate(source, tokens).RenderText(messages); }
            catch (InputException e)
            {
                actual = null;
                if (!snippet.TryGetProperty("error", out _)) failures.Add($"{source}\n  threw: {e.Message}");
            }
            if (actual is null) continue;
            if (snippet.TryGetProperty("text", out var expected))
            {
                if (expected.GetString() != actual) failures.Add($"{source}\n  expected: {expected.GetString()}\n  actual:   {actual}");
            }
            else failures.Add($"{source}\n  Python raised {snippet.GetProperty("error").GetString()} but we rendered: {actual}");
        }
        Assert.True(count >= 50, $"only {count} snippets");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void MistralRaisesTheTemplatesOwnMessageForASystemMessageOrNonAlternatingRoles()
    {
        var mistral = Load("mistral");
        var system = Assert.Throws<InputException>(() => mistral.Render([new ChatMessage("system", "s"), new ChatMessage("user", "u")]));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", system.Message);
        var odd = Assert.Throws<InputException>(() => mistral.Render([new ChatMessage("user", "u"), new ChatMessage("tool", "t")]));
        Assert.Equal("Only user and assistant roles are supported!", odd.Message);
    }

    [Fact]
    public void ChatMlSpansEqualChatMlTemplatesAndThePromptCompletionSplit()
    {
        // the fixture is the project's own ChatML template, so both implementations must agree on text and spans
        Assert.Equal(ChatMlTemplate.JinjaSource, File.ReadAllText(Fixture.PathOf("tokenization", "templates", "chatml.jinja")));
        var jinja = Load("chatml");
        var chatMl = new ChatMlTemplate();
        int checkedSpans = 0;
        foreach (var c in Cases("chatml").Where(c => c.GetProperty("messages").EnumerateArray()
                     .All(m => m.GetProperty("role").GetString() is "user" or "assistant" or "system")))
        {
            var messages = ChatMessages(c);
            var rendered = jinja.Render(messages);
            var hand = chatMl.Render(messages);
            Assert.Equal(hand.Text, rendered.Text);
            Assert.Equal(hand.AssistantSpans, rendered.AssistantSpans);
            Assert.Equal(Spans(c.GetProperty("assistant_spans")), rendered.AssistantSpans);
            checkedSpans += rendered.AssistantSpans.Count;
        }
        Assert.True(checkedSpans >= 10, $"only {checkedSpans} spans compared");
    }

    [Fact]
    public void GenerationBlocksGiveExactlyTheSpansTransformersRecords()
    {
        var template = Load("chatml_generation");
        foreach (var c in Cases("chatml_generation"))
        {
            var messages = Messages(c);
            var plain = template.Render(messages);
            Assert.Equal(Spans(c.GetProperty("text_spans")), plain.AssistantSpans);
            var withPrompt = template.Render(messages, addGenerationPrompt: true);
            Assert.Equal(Spans(c.GetProperty("generation_prompt_text_spans")), withPrompt.AssistantSpans);
        }
        // hand-checked: the block emits content, <|im_end|> and the newline left before {% endgeneration %}
        var single = template.Render([new ChatMessage("user", "Q"), new ChatMessage("assistant", "A")]);
        var (start, end) = Assert.Single(single.AssistantSpans);
        Assert.Equal("A<|im_end|>\n", single.Text[start..end]);
    }

    private static List<string> SpanTexts(RenderedChat r) => r.AssistantSpans.Select(s => r.Text[s.Start..s.End]).ToList();

    private static RenderedChat RenderCase(string template, string conversation)
    {
        var c = Cases(template).Single(c => c.GetProperty("conversation").GetString() == conversation);
        var rendered = Load(template).Render(Messages(c));
        Assert.Equal(c.GetProperty("text").GetString(), rendered.Text);
        return rendered;
    }

    [Fact]
    public void LocatedSpansCoverTheRenderedContentAndItsEndOfTurnMarker()
    {
        Assert.Equal(["Hello.<|eot_id|>", "4<|eot_id|>"], SpanTexts(RenderCase("llama3", "system_multi_turn")));
        // Llama-3 trims the content: the span is the trimmed text
        Assert.Equal(["General Kenobi.<|eot_id|>", "ok<|eot_id|>"], SpanTexts(RenderCase("llama3", "whitespace")));
        Assert.Equal(["4.</s>"], SpanTexts(RenderCase("zephyr", "single_turn")));
        Assert.Equal(["Two</s>", "Four</s>"], SpanTexts(RenderCase("mistral", "alternating")));
        Assert.Equal(["Ça va ✓ 🚀 — ünïcödé\u2028sep<|im_end|>"], SpanTexts(RenderCase("qwen2", "unicode")));
        // "4" also occurs in the user's "Say 4.": the turn's own "4" is the one followed by the end-of-turn marker
        Assert.Equal(["Hello.<|im_end|>", "4<|im_end|>"], SpanTexts(RenderCase("qwen2", "system_multi_turn")));
    }

    [Fact]
    public void Qwen3ReasoningSpansStartAtTheThinkBlockTheTemplateWrites()
    {
        // Qwen3 shows reasoning only after the last user turn; earlier turns keep just the answer
        Assert.Equal(["4<|im_end|>", "<think>\nSix, clearly.\n</think>\n\n6<|im_end|>"],
            SpanTexts(RenderCase("qwen3", "reasoning_content")));
        Assert.Equal(["4<|im_end|>", "<think>\nLate thought.\n</think>\n\n6<|im_end|>"],
            SpanTexts(RenderCase("qwen3", "think_in_content")));
        Assert.Equal(["Hello.<|im_end|>", "4<|im_end|>"], SpanTexts(RenderCase("qwen3", "system_multi_turn")));
    }

    [Fact]
    public void AnAssistantTurnTheTemplateRewritesCannotBeLocated()
    {
        var shouting = new JinjaChatTemplate("{% for m in messages %}{{ m.content | upper }}<|end|>{% endfor %}");
        var e = Assert.Throws<InputException>(() =>
            shouting.Render([new ChatMessage("user", "hi"), new ChatMessage("assistant", "hello")]));
        Assert.Contains("message 1 (assistant)", e.Message);
        Assert.Equal("HI<|end|>HELLO<|end|>", shouting.RenderText([
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "hi" },
            new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "hello" }]));
    }

    [Theory]
    [InlineData("{% extends 'base.jinja' %}", "'{% extends %}' tag", 1)]
    [InlineData("a\n{% include 'x' %}", "'{% include %}' tag", 2)]
    [InlineData("a\nb\n{{ messages | frobnicate }}", "filter 'frobnicate'", 3)]
    [InlineData("{% if x is frobbed %}{% endif %}", "test 'frobbed'", 1)]
    [InlineData("\n{% for m in messages recursive %}{% endfor %}", "recursive for loops", 2)]
    [InlineData("{% raw %}{{ x }}{% endraw %}", "'{% raw %}' tag", 1)]
    [InlineData("{{ f(*args) }}", "*args", 1)]
    public void UnsupportedConstructsFailAtLoadNamingTheConstructAndLine(string source, string construct, int line)
    {
        var e = Assert.Throws<InputException>(() => new JinjaChatTemplate(source));
        Assert.Contains(construct, e.Message);
        Assert.Contains("not supported", e.Message);
        Assert.Contains($"line {line}:", e.Message);
    }

    [Theory]
    [InlineData("{% if x %}\n\n{{ x + }}{% endif %}", 3)]
    [InlineData("a\n{% for m in messages %}\nno end", 3)]
    [InlineData("{{ 'unterminated }}", 1)]
    [InlineData("\n\n\n{% frobnicate %}", 4)]
    [InlineData("{% set %}", 1)]
    [InlineData("x\n{{ (1, 2 }}", 2)]
    [InlineData("{% for x in y %}{% endif %}", 1)]
    [InlineData("{# never closed", 1)]
    [InlineData("{% break %}", 1)]
    public void ParseErrorsNameTheLine(string source, int line)
    {
        var e = Assert.Throws<InputException>(() => new JinjaChatTemplate(source));
        Assert.StartsWith($"chat template line {line}:", e.Message);
    }

    [Fact]
    public void RenderErrorsNameTheLine()
    {
        var e = Assert.Throws<InputException>(() => new JinjaChatTemplate("ok\n{{ 1 + 'a' }}").RenderText(new List<ChatMessage>()));
        Assert.Equal("chat template line 2: unsupported operand type(s) for +: 'int' and 'str'", e.Message);
        var undefined = Assert.Throws<InputException>(() =>
            new JinjaChatTemplate("{{ messages[0].content.x.y }}").Render([new ChatMessage("user", "u")]));
        Assert.Contains("line 1", undefined.Message);
    }

    [Fact]
    public void FromTokenizerConfigReadsTheListFormAndTokenObjects()
    {
        var c = Cases("zephyr").Single(c => c.GetProperty("conversation").GetString() == "system_multi_turn");
        var config = new Dictionary<string, object?>
        {
            ["chat_template"] = new object[]
            {
                new Dictionary<string, string> { ["name"] = "tool_use", ["template"] = "{{ raise_exception('not this one') }}" },
                new Dictionary<string, string>
                {
                    ["name"] = "default", ["template"] = File.ReadAllText(Fixture.PathOf("tokenization", "templates", "zephyr.jinja")),
                },
            },
            ["bos_token"] = new Dictionary<string, object> { ["content"] = "<s>", ["lstrip"] = false },
            ["eos_token"] = new Dictionary<string, object> { ["content"] = "</s>", ["normalized"] = false },
            ["unk_token"] = null,
        };
        var path = Path.Combine(Path.GetTempPath(), $"iftsharp-jinja-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        try
        {
            var template = JinjaChatTemplate.FromTokenizerConfig(path);
            Assert.Equal(c.GetProperty("text").GetString(), template.Render(ChatMessages(c)).Text);
            Assert.Equal(c.GetProperty("generation_prompt_text").GetString(),
                template.Render(ChatMessages(c), addGenerationPrompt: true).Text);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void FromTokenizerConfigReadsARealQwen3Config()
    {
        var template = JinjaChatTemplate.FromTokenizerConfig(Fixture.PathOf("tokenization", "qwen3", "tokenizer_config.json"));
        foreach (var c in Cases("qwen3").Where(c => c.TryGetProperty("text", out _)))
            Assert.Equal(c.GetProperty("text").GetString(), template.RenderText(Messages(c)));
    }

    [Fact]
    public void FromTokenizerConfigErrorsNameTheFileAndField()
    {
        var e = Assert.Throws<InputException>(() => JinjaChatTemplate.FromTokenizerConfigJson("{\"eos_token\": \"</s>\"}", "cfg.json"));
        Assert.StartsWith("cfg.json: field 'chat_template'", e.Message);
        var bad = Assert.Throws<InputException>(() =>
            JinjaChatTemplate.FromTokenizerConfigJson("{\"chat_template\": \"{% extends 'x' %}\"}", "cfg.json"));
        Assert.StartsWith("cfg.json: field 'chat_template': chat template line 1:", bad.Message);
        var noDefault = Assert.Throws<InputException>(() =>
            JinjaChatTemplate.FromTokenizerConfigJson("{\"chat_template\": [{\"name\": \"rag\", \"template\": \"x\"}]}", "cfg.json"));
        Assert.Contains("default", noDefault.Message);
    }

    [Fact]
    public void Qwen3ToolCallsAndToolResponsesRenderAsJinja2()
    {
        var qwen3 = Load("qwen3");
        foreach (var c in Fixture.Json("tokenization", "chat_template_tools_reference.json").EnumerateArray())
        {
            var extra = new Dictionary<string, object?> { ["tools"] = c.GetProperty("tools") };
            Assert.Equal(c.GetProperty("text").GetString(), qwen3.RenderText(Messages(c), false, extra));
            Assert.Equal(c.GetProperty("generation_prompt_text").GetString(), qwen3.RenderText(Messages(c), true, extra));
        }
    }

    [Fact]
    public void ExtraContextReachesTheTemplate()
    {
        var qwen3 = Load("qwen3");
        var text = qwen3.RenderText([new Dictionary<string, object?> { ["role"] = "user", ["content"] = "hi" }], addGenerationPrompt: true,
            new Dictionary<string, object?> { ["enable_thinking"] = false });
        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", text);
    }

    [Fact]
    public void StrftimeNowFormatsTheClockWithCDirectives()
    {
        var t = new DateTime(2024, 7, 5, 14, 3, 9);
        Assert.Equal("05 Jul 2024 14:03:09 PM Friday July 187 5 %", JinjaChatTemplate.Strftime(t, "%d %b %Y %H:%M:%S %p %A %B %j %-d %%"));
        var rendered = new JinjaChatTemplate("{{ strftime_now('%Y') }}").RenderText(new List<ChatMessage>());
        Assert.Equal(DateTime.Now.Year.ToString(System.Globalization.CultureInfo.InvariantCulture), rendered);
    }
}

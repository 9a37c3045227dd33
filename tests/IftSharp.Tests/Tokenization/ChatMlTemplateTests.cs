using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Tokenization;

/// <summary>
/// Golden renderings and assistant spans from Python's Jinja2 configured as transformers configures it
/// (Fixtures/tools/make_chatml_fixtures.py).
/// </summary>
public class ChatMlTemplateTests
{
    [Fact]
    public void RendersAsJinjaRendersTheTemplateWeWriteIntoTokenizerConfig()
    {
        var template = new ChatMlTemplate();
        foreach (var c in Fixture.Json("tokenization", "chatml_reference.json").EnumerateArray())
        {
            var messages = c.GetProperty("messages").EnumerateArray()
                .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList();
            var rendered = template.Render(messages);
            Assert.Equal(c.GetProperty("text").GetString(), rendered.Text);
            Assert.Equal(c.GetProperty("generation_prompt_text").GetString(), template.Render(messages, addGenerationPrompt: true).Text);
            var spans = c.GetProperty("assistant_spans").EnumerateArray().Select(s => (s[0].GetInt32(), s[1].GetInt32())).ToList();
            Assert.Equal(spans, rendered.AssistantSpans);
        }
    }

    [Fact]
    public void AnUnknownRoleIsAClearError()
    {
        var e = Assert.Throws<IftSharp.Core.InputException>(() => new ChatMlTemplate().Render([new ChatMessage("robot", "x")]));
        Assert.Contains("robot", e.Message);
    }

    /// <summary>Its Jinja text concatenates the content to strings, so Python fails on null content or a list of parts:
    /// the C# template refuses them too, and renders a tool message like any other role.</summary>
    [Fact]
    public void StringContentOnlyAndToolMessagesRender()
    {
        var template = new ChatMlTemplate();
        var call = new ChatMessage("assistant", null) { ToolCalls = [new ToolCall("f", "{}")] };
        var e = Assert.Throws<IftSharp.Core.InputException>(() => template.Render([new ChatMessage("user", "u"), call]));
        Assert.Contains("message 1 (assistant): the ChatML template takes string content only (got null)", e.Message);
        var part = new Dictionary<string, object?> { ["type"] = "text", ["text"] = "u" };
        var parts = new ChatMessage("user", null) { ContentParts = [part] };
        Assert.Contains("(got a list of parts)", Assert.Throws<IftSharp.Core.InputException>(() => template.Render([parts])).Message);
        var jinja = new JinjaChatTemplate(ChatMlTemplate.JinjaSource);
        List<ChatMessage> withTool = [new("user", "u"), new("tool", "42"), new("assistant", "a")];
        Assert.Equal(jinja.RenderText(withTool), template.RenderText(withTool));
        Assert.Equal("<|im_start|>tool\n42<|im_end|>\n", template.RenderText([new ChatMessage("tool", "42")]));
    }
}

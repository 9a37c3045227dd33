using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Tokenization;

/// <summary>Golden renderings and assistant spans from Python's Jinja2 configured as transformers configures it (Fixtures/tools/make_chatml_fixtures.py).</summary>
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
}

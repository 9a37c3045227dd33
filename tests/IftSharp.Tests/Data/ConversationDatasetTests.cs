using System.Text;
using System.Text.Json;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Data;

public class ConversationDatasetTests
{
    private static string Write(params string[] lines) => TempJsonl.Write(lines);

    private const string Good =
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}]}";

    [Theory]
    [InlineData("{\"messages\": [", ":2: malformed JSON")]
    [InlineData("{\"text\": \"x\"}", ":2: field 'messages': missing")]
    [InlineData("{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", ":2: field 'messages[0].role': 'robot'")]
    [InlineData("{\"messages\": [{\"role\": \"user\"}]}", ":2: field 'messages[0].content': missing")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"\"}]}",
        ":2: field 'messages[1].content': empty assistant message")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", ":2: field 'messages': no assistant message")]
    // issue 15: a content of the wrong type is named as such, not as missing
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": 42}, {\"role\": \"assistant\", \"content\": \"y\"}]}",
        ":2: field 'messages[0].content': expected a string, a list of {\"type\": \"text\", \"text\": ...} parts, or null beside " +
            "tool_calls; got a number")]
    [InlineData("{\"messages\": [{\"role\": 7, \"content\": \"x\"}]}",
        ":2: field 'messages[0].role': expected one of \"system\", \"user\", \"assistant\", \"tool\"; got a number")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": null}]}",
        ":2: field 'messages[1].content': expected a string, a list of {\"type\": \"text\", \"text\": ...} parts, or null beside " +
            "tool_calls; got null")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\"}]}]}",
        ":2: field 'messages[0].content[0].type': 'image'; expected \"text\" (images and other media are not supported)")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": 3}]}]}",
        ":2: field 'messages[0].content[0].text': expected a string; got a number")]
    [InlineData("{\"messages\": [{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"function\": {\"name\": \"f\"}}]}]}",
        ":2: field 'messages[0].tool_calls[0].function.arguments': expected an object or a string of JSON")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"x\", \"tool_calls\": []}]}",
        ":2: field 'messages[0].tool_calls': only an assistant message")]
    [InlineData("{\"messages\": [{\"role\": \"tool\", \"content\": \"x\", \"tool_call_id\": 5}]}",
        ":2: field 'messages[0].tool_call_id': expected a string; got a number")]
    public void BadLinesNameFileLineAndField(string badLine, string expected)
    {
        var path = Write(Good, badLine);
        try
        {
            var e = Assert.Throws<InputException>(() => ConversationDataset.ReadConversations(path));
            Assert.Contains(path + expected, e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LabelsCoverExactlyTheAssistantTokensAndTheirEndOfTurn()
    {
        var tokenizer = new ByteLevelTokenizer();
        var example = ConversationDataset.Tokenize([new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Yo")], tokenizer,
            new ChatMlTemplate(), 512);
        // "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n": labelled = 'Y', 'o', <|im_end|>.
        var labelled = example.Labels.Select((l, i) => (l, i)).Where(x => x.l != -100).Select(x => example.InputIds[x.i]).ToArray();
        Assert.Equal(new[] { (int)'Y', (int)'o', tokenizer.TokenToId("<|im_end|>")!.Value }, labelled);
        Assert.Equal(example.InputIds.Length, example.Labels.Length);
    }

    [Fact]
    public void PromptCompletionRowsFollowTrlsMaskAndTextLearnsEverything()
    {
        var tokenizer = new ByteLevelTokenizer();
        var path = Write(Good,
            "{\"prompt\": \"Hi\", \"completion\": \"Yo\"}",
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"completion\": [{\"role\": \"assistant\", \"content\": \"Yo\"}]}",
            "{\"text\": \"abc\"}",
            "{\"text\": \"abc<|im_end|>\"}");
        try
        {
            var examples = ConversationDataset.ReadExamples(path, tokenizer, new ChatMlTemplate(), 512);
            Assert.Equal(5, examples.Count);
            string Labelled(TrainingExample e) => tokenizer.Decode(e.InputIds.Where((_, i) => e.Labels[i] != -100));
            // messages: the assistant turn and its end of turn; prompt/completion messages: TRL's rule, everything after
            // the prompt rendered with the generation prompt, so also the newline the template writes after <|im_end|>
            Assert.Equal(examples[0].InputIds, examples[2].InputIds);
            Assert.Equal("Yo<|im_end|>", Labelled(examples[0]));
            Assert.Equal("Yo<|im_end|>\n", Labelled(examples[2]));
            // strings: TRL's standard form, prompt + completion + EOS tokenised without a template, the completion labelled
            Assert.Equal("HiYo<|im_end|>", tokenizer.Decode(examples[1].InputIds));
            Assert.Equal("Yo<|im_end|>", Labelled(examples[1]));
            // language modeling: the text and EOS (not a second one), every token labelled
            Assert.Equal(new[] { 'a', 'b', 'c' }.Select(c => (int)c).Append(tokenizer.EosTokenId!.Value), examples[3].InputIds);
            Assert.Equal(examples[3].InputIds.Select(i => (long)i), examples[3].Labels);
            Assert.Equal(examples[3].InputIds, examples[4].InputIds);
        }
        finally { File.Delete(path); }
    }

    /// <summary>A template whose generation prompt is not how it starts an assistant turn: the prompt's tokens are not a
    /// prefix of the row's, which TRL warns about; the readers count such rows and report them once.</summary>
    [Fact]
    public void RowsWhosePromptIsNotAPrefixAreCountedAndReportedOnce()
    {
        var template = new JinjaChatTemplate("{% for m in messages %}<|im_start|>{{ m.role }}:{{ m.content }}<|im_end|>{% endfor %}" +
            "{% if add_generation_prompt %}<|im_start|>a\n{% endif %}");
        var tokenizer = new ByteLevelTokenizer();
        var row = "{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"completion\": [{\"role\": \"assistant\", \"content\": " +
            "\"Yo\"}]}";
        var path = Write(row, Good, row, row);
        try
        {
            var warnings = new List<string>();
            var examples = ConversationDataset.ReadExamples(path, tokenizer, template, new DatasetReadOptions(512) { Warn = warnings.Add });
            var warning = Assert.Single(warnings);
            Assert.StartsWith($"{path}: 3 rows (lines 1, 3, 4) whose prompt, tokenised alone, is not a prefix", warning);
            // as TRL: the loss starts after as many tokens as the prompt has alone (its generation prompt "<|im_start|>a\n"
            // ends 12 tokens in), here inside the turn's header "assistant:"
            var prompt = tokenizer.Encode(template.RenderText([new ChatMessage("user", "Hi")], addGenerationPrompt: true)).Ids.Count;
            Assert.Equal(12, prompt);
            Assert.Equal(prompt, Array.FindIndex(examples[0].Labels, l => l != -100));
            Assert.Equal("<|im_start|>user:Hi<|im_end|><|im_start|>assistant:Yo<|im_end|>", tokenizer.Decode(examples[0].InputIds));
            Assert.Equal("sistant:Yo<|im_end|>", tokenizer.Decode(examples[0].InputIds.Where((_, i) => examples[0].Labels[i] != -100)));
            // the DPO/KTO join keeps the prompt's own ids, then the row's after that many
            var dpo = ConversationDataset.TokenizePromptCompletion(TextOrMessages.FromMessages([new ChatMessage("user", "Hi")]),
                TextOrMessages.FromMessages([new ChatMessage("assistant", "Yo")]), tokenizer, template, new DatasetReadOptions(512),
                new RowContext("d.jsonl", 1), PromptJoin.PromptIdsThenRest);
            Assert.Equal("<|im_start|>user:Hi<|im_end|><|im_start|>a\nsistant:Yo<|im_end|>", tokenizer.Decode(dpo.InputIds));
            Assert.Equal(12, Array.FindIndex(dpo.Labels, l => l != -100));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void RowToolsAndTemplateArgumentsReachTheTemplate()
    {
        var template = new JinjaChatTemplate("{% if tools %}[{{ tools | map(attribute='function.name') | join(',') }}]{% endif %}" +
            "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}{% if add_generation_prompt %}<|im_start|>" +
            "{% if mood is defined %}{{ mood }}{% endif %}{% endif %}");
        var tokenizer = new ByteLevelTokenizer();
        var tools = "[{\"type\": \"function\", \"function\": {\"name\": \"f\"}}, {\"type\": \"function\", \"function\": {\"name\": " +
            "\"g\"}}]";
        var path = Write(
            $"{{\"tools\": {tools}, \"prompt\": [{{\"role\": \"user\", \"content\": \"Hi\"}}], " +
            "\"completion\": [{\"role\": \"assistant\", \"content\": \"Yo\"}]}",
            $"{{\"tools\": {JsonSerializer.Serialize(tools)}, \"chat_template_kwargs\": {{\"mood\": \"!\"}}, \"messages\": " +
            "[{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}]}");
        try
        {
            var examples = ConversationDataset.ReadExamples(path, tokenizer, template, new DatasetReadOptions(512));
            Assert.Equal("[f,g]<|im_start|>Hi<|im_end|><|im_start|>Yo<|im_end|>", tokenizer.Decode(examples[0].InputIds));
            // tools given as a JSON string (TRL json.loads it) and chat_template_kwargs as template variables
            Assert.Equal("[f,g]<|im_start|>Hi<|im_end|><|im_start|>Yo<|im_end|>", tokenizer.Decode(examples[1].InputIds));
            var mood = new ChatTemplateArguments(null, new Dictionary<string, object?> { ["mood"] = "!" });
            var kwargs = ConversationDataset.TokenizePromptCompletion(TextOrMessages.FromMessages([new ChatMessage("user", "Hi")]),
                TextOrMessages.FromMessages([new ChatMessage("assistant", "Yo")]), tokenizer, template, new DatasetReadOptions(512),
                new RowContext("d.jsonl", 1) { Arguments = mood });
            // the prompt rendered with the generation prompt ends in the variable's "!": one token more before the loss
            Assert.Equal(6, Array.FindIndex(kwargs.Labels, l => l != -100));
            Assert.Equal("<|im_start|>Hi<|im_end|><|im_start|>Yo<|im_end|>", tokenizer.Decode(kwargs.InputIds));
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("{\"tools\": 3, \"messages\": []}",
        ":1: field 'tools': expected a list of tool schemas (objects), or a JSON string of one; got a number")]
    [InlineData("{\"tools\": \"[oops\", \"messages\": []}", ":1: field 'tools': a string that is not JSON")]
    [InlineData("{\"chat_template_kwargs\": [], \"messages\": []}", ":1: field 'chat_template_kwargs': expected an object; got a list")]
    [InlineData("{\"prompt\": 5, \"completion\": \"x\"}",
        ":1: field 'prompt': expected a string or a list of {\"role\", \"content\"} messages; got a number")]
    [InlineData("{\"prompt\": \"x\", \"completion\": \"\"}", ":1: field 'completion': empty; expected the completion text")]
    [InlineData("{\"prompt\": [{\"role\": \"user\", \"content\": \"x\"}], \"completion\": [{\"role\": \"user\", \"content\": \"y\"}]}",
        ":1: field 'completion': expected a completion that starts with an assistant message")]
    [InlineData("[1, 2]", ":1: expected a JSON object; got a list")]
    public void BadRowFieldsNameTheField(string line, string expected)
    {
        var path = Write(line);
        try
        {
            var e = Assert.Throws<InputException>(() => ConversationDataset.ReadExamples(path, new ByteLevelTokenizer(),
                new ChatMlTemplate(), 64));
            Assert.StartsWith(path + expected, e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ADirectoryIsReportedAsADirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-data-dir-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var e = Assert.Throws<InputException>(() => ConversationDataset.ReadExamples(dir, new ByteLevelTokenizer(),
                new ChatMlTemplate(), 64));
            Assert.Equal($"{dir}: is a directory; expected a JSONL file (or a .parquet file)", e.Message);
            var missing = Assert.Throws<InputException>(() => ConversationDataset.ReadExamples(dir + "-nope", new ByteLevelTokenizer(),
                new ChatMlTemplate(), 64));
            Assert.Equal($"{dir}-nope: file not found", missing.Message);
        }
        finally { Directory.Delete(dir); }
    }

    [Fact]
    public void InvalidUtf8IsAnErrorWithItsLineUnlessAllowed()
    {
        var path = Path.Combine(Path.GetTempPath(), "iftsharp-data-" + Guid.NewGuid().ToString("N") + ".jsonl");
        var good = Encoding.UTF8.GetBytes(Good + "\r\n");
        var bad = Encoding.UTF8.GetBytes("{\"prompt\": \"caf").Concat(new byte[] { 0xC3,
            0x28 }).Concat(Encoding.UTF8.GetBytes("\", \"completion\": \"x\"}\n")).ToArray();
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. good, .. good, .. bad]);
        try
        {
            var tokenizer = new ByteLevelTokenizer();
            var e = Assert.Throws<InputException>(() => ConversationDataset.ReadExamples(path, tokenizer, new ChatMlTemplate(), 512));
            Assert.True(e.Message.StartsWith($"{path}:3: invalid UTF-8 (byte 0xC3 at byte 16 of the line)", StringComparison.Ordinal),
                e.Message);
            Assert.Contains("--allow-invalid-utf8", e.Message);
            var allowed = ConversationDataset.ReadExamples(path, tokenizer, new ChatMlTemplate(),
                new DatasetReadOptions(512) { AllowInvalidUtf8 = true });
            Assert.Equal(3, allowed.Count);
            Assert.StartsWith("caf\uFFFD(", tokenizer.Decode(allowed[2].InputIds));
            // the byte-order mark and the CRLF line ends read as before
            Assert.Equal(allowed[0].InputIds, allowed[1].InputIds);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TruncationCutsThePromptOnTheLeftThenTheSequenceOnTheRight()
    {
        var tokenizer = new ByteLevelTokenizer();
        var conversation = new List<ChatMessage> { new("user", "0123456789"), new("assistant", "abcdef") };
        var full = ConversationDataset.Tokenize(conversation, tokenizer, new ChatMlTemplate(), 512);
        int prompt = Array.FindIndex(full.Labels, l => l != -100);
        var cut = ConversationDataset.Tokenize(conversation, tokenizer, new ChatMlTemplate(), maxLength: 8, maxPromptLength: 5);
        // The last 5 prompt tokens ("\n<|im_start|>assistant\n" ends the prompt), then the sequence cut to 8: 3 completion tokens.
        Assert.Equal(full.InputIds.Skip(prompt - 5).Take(8), cut.InputIds);
        Assert.Equal(full.Labels.Skip(prompt - 5).Take(8), cut.Labels);
        Assert.Equal("abc", tokenizer.Decode(cut.InputIds.Where((_, i) => cut.Labels[i] != -100)));
        var plain = ConversationDataset.TokenizePlain("0123456789", "xyz", tokenizer, maxLength: 100, "d.jsonl", 1, maxPromptLength: 4);
        Assert.Equal("6789xyz<|im_end|>", tokenizer.Decode(plain.InputIds));
    }

    [Fact]
    public void APromptThatFillsMaxLengthIsAnError()
    {
        var e = Assert.Throws<InputException>(() => ConversationDataset.Tokenize(
            [new ChatMessage("user", new string('x', 100)), new ChatMessage("assistant", "y")], new ByteLevelTokenizer(),
            new ChatMlTemplate(), 64, source: "d.jsonl", line: 7));
        Assert.Contains("d.jsonl:7", e.Message);
        Assert.Contains("max_length", e.Message);
    }
}

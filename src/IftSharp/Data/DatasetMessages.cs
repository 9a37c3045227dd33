using System.Text.Json;
using IftSharp.Core;
using IftSharp.Tokenization;

namespace IftSharp.Data;

/// <summary>
/// The message fields of dataset rows, read into <see cref="ChatMessage"/>s: the roles system, user, assistant and tool;
/// content as a string, a list of <c>{"type": "text", "text": ...}</c> parts, or null (or absent) beside
/// <c>tool_calls</c>; tool calls in the OpenAI shape; <c>reasoning_content</c>, <c>tool_call_id</c>, <c>name</c>, and
/// any other field passed to the template as it is. A row's <c>tools</c> (a list, or a JSON string of one, as TRL
/// accepts) and <c>chat_template_kwargs</c> become the template's arguments. Every problem names file, line and field.
/// </summary>
public static class DatasetMessages
{
    public static readonly string[] Roles = ["system", "user", "assistant", "tool"];

    private const string ContentExpected =
        "expected a string, a list of {\"type\": \"text\", \"text\": ...} parts, or null beside tool_calls";

    /// <summary>"a number", "an object", ...: what a JSON value is, for messages.</summary>
    public static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "a list",
        JsonValueKind.Object => "an object",
        _ => e.ValueKind.ToString(),
    };

    /// <summary>A prompt or completion field: a string (TRL's standard form) or a list of messages.</summary>
    public static TextOrMessages Field(JsonElement value, string path, int line, string field) => value.ValueKind switch
    {
        JsonValueKind.String => TextOrMessages.FromText(value.GetString()!),
        JsonValueKind.Array => TextOrMessages.FromMessages(Parse(value, path, line, field)),
        _ => throw InputException.At(path, line, field,
            $"expected a string or a list of {{\"role\", \"content\"}} messages; got {Kind(value)}"),
    };

    /// <summary>A JSON list of messages.</summary>
    public static List<ChatMessage> Parse(JsonElement array, string path, int line, string field)
    {
        var messages = new List<ChatMessage>();
        int index = 0;
        foreach (var m in array.EnumerateArray())
            messages.Add(Message(m, path, line, $"{field}[{index++}]"));
        return messages;
    }

    private static ChatMessage Message(JsonElement m, string path, int line, string field)
    {
        if (m.ValueKind != JsonValueKind.Object)
            throw InputException.At(path, line, field, $"expected an object with \"role\" and \"content\"; got {Kind(m)}");
        string roles = string.Join(", ", Roles.Select(r => $"\"{r}\""));
        if (!m.TryGetProperty("role", out var roleValue))
            throw InputException.At(path, line, field + ".role", $"missing; expected one of {roles}");
        if (roleValue.ValueKind != JsonValueKind.String)
            throw InputException.At(path, line, field + ".role", $"expected one of {roles}; got {Kind(roleValue)}");
        var role = roleValue.GetString()!;
        if (!Roles.Contains(role)) throw InputException.At(path, line, field + ".role", $"'{role}'; expected one of {roles}");

        var toolCalls = m.TryGetProperty("tool_calls", out var calls) ? ToolCalls(calls, path, line, field + ".tool_calls") : null;
        if (toolCalls is not null && role != "assistant")
            throw InputException.At(path, line, field + ".tool_calls", $"only an assistant message has tool calls (this one is {role})");
        bool hasCalls = toolCalls is { Count: > 0 };

        string? content = null;
        List<IReadOnlyDictionary<string, object?>>? parts = null;
        if (!m.TryGetProperty("content", out var c))
        {
            if (!hasCalls) throw InputException.At(path, line, field + ".content", "missing; " + ContentExpected);
        }
        else if (c.ValueKind == JsonValueKind.String) content = c.GetString()!;
        else if (c.ValueKind == JsonValueKind.Array) parts = Parts(c, path, line, field + ".content");
        else if (c.ValueKind != JsonValueKind.Null || !hasCalls)
            throw InputException.At(path, line, field + ".content", $"{ContentExpected}; got {Kind(c)}");
        if (role == "assistant" && !hasCalls && (content ?? "").Length == 0 && (parts is null || parts.Count == 0))
            throw InputException.At(path, line, field + ".content", "empty assistant message; expected the completion text or tool_calls");

        var extra = new List<KeyValuePair<string, object?>>();
        string? reasoning = null, toolCallId = null, name = null;
        foreach (var p in m.EnumerateObject())
        {
            switch (p.Name)
            {
                case "role" or "content" or "tool_calls": break;
                case "reasoning_content": reasoning = OptionalString(p.Value, path, line, field + ".reasoning_content"); break;
                case "tool_call_id": toolCallId = OptionalString(p.Value, path, line, field + ".tool_call_id"); break;
                case "name": name = OptionalString(p.Value, path, line, field + ".name"); break;
                default: extra.Add(new(p.Name, p.Value.Clone())); break;
            }
        }
        return new ChatMessage(role, content)
        {
            ContentParts = parts,
            ToolCalls = toolCalls,
            ReasoningContent = reasoning,
            ToolCallId = toolCallId,
            Name = name,
            Extra = extra.Count > 0 ? extra : null,
        };
    }

    private static string? OptionalString(JsonElement v, string path, int line, string field) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString(),
        JsonValueKind.Null => null,
        _ => throw InputException.At(path, line, field, $"expected a string; got {Kind(v)}"),
    };

    private static List<IReadOnlyDictionary<string, object?>> Parts(JsonElement array, string path, int line, string field)
    {
        var parts = new List<IReadOnlyDictionary<string, object?>>();
        int i = 0;
        foreach (var part in array.EnumerateArray())
        {
            var where = $"{field}[{i++}]";
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type)
                || type.ValueKind != JsonValueKind.String)
                throw InputException.At(path, line, where, $"expected a {{\"type\": \"text\", \"text\": ...}} part; got {Kind(part)}");
            if (type.GetString() != "text")
                throw InputException.At(path, line, where + ".type",
                    $"'{type.GetString()}'; expected \"text\" (images and other media are not supported)");
            if (!part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                throw InputException.At(path, line, where + ".text",
                    text.ValueKind == JsonValueKind.Undefined ? "missing; expected a string" : $"expected a string; got {Kind(text)}");
            var d = new Dictionary<string, object?>();
            foreach (var p in part.EnumerateObject()) d[p.Name] = p.Name == "text" ? p.Value.GetString() : p.Value.Clone();
            parts.Add(d);
        }
        return parts;
    }

    private static List<ToolCall>? ToolCalls(JsonElement calls, string path, int line, string field)
    {
        if (calls.ValueKind == JsonValueKind.Null) return null;
        if (calls.ValueKind != JsonValueKind.Array)
            throw InputException.At(path, line, field, $"expected a list of tool calls; got {Kind(calls)}");
        var list = new List<ToolCall>();
        int i = 0;
        foreach (var call in calls.EnumerateArray())
        {
            var where = $"{field}[{i++}]";
            const string shape = "{\"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": ...}}";
            if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var function)
                || function.ValueKind != JsonValueKind.Object)
                throw InputException.At(path, line, where, $"expected a tool call {shape}");
            if (!function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                throw InputException.At(path, line, where + ".function.name", "expected the function's name as a string");
            if (!function.TryGetProperty("arguments", out var arguments)
                || arguments.ValueKind is not (JsonValueKind.Object or JsonValueKind.String))
                throw InputException.At(path, line, where + ".function.arguments", "expected an object or a string of JSON");
            string? id = call.TryGetProperty("id", out var idValue) ? OptionalString(idValue, path, line, where + ".id") : null;
            string? type = call.TryGetProperty("type", out var typeValue) ? OptionalString(typeValue, path, line, where + ".type") : null;
            object? value = arguments.ValueKind == JsonValueKind.String ? arguments.GetString() : arguments.Clone();
            list.Add(new ToolCall(name.GetString()!, value)
            {
                Id = id,
                Type = type,
            });
        }
        return list;
    }

    /// <summary>The row's <c>tools</c> and <c>chat_template_kwargs</c> as the template's arguments.</summary>
    public static ChatTemplateArguments Arguments(JsonElement row, string path, int line)
    {
        IReadOnlyList<object?>? tools = null;
        if (row.TryGetProperty("tools", out var t) && t.ValueKind != JsonValueKind.Null)
        {
            var list = t;
            if (t.ValueKind == JsonValueKind.String)
            {
                // TRL: tools = json.loads(tools) if isinstance(tools, str)
                try { list = JsonDocument.Parse(t.GetString()!).RootElement; }
                catch (JsonException e) { throw InputException.At(path, line, "tools", $"a string that is not JSON ({e.Message})"); }
            }
            if (list.ValueKind != JsonValueKind.Array || list.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.Object))
                throw InputException.At(path, line, "tools",
                    $"expected a list of tool schemas (objects), or a JSON string of one; got {Kind(list)}");
            tools = list.EnumerateArray().Select(x => (object?)x.Clone()).ToList();
        }
        Dictionary<string, object?>? variables = null;
        if (row.TryGetProperty("chat_template_kwargs", out var k) && k.ValueKind != JsonValueKind.Null)
        {
            if (k.ValueKind != JsonValueKind.Object)
                throw InputException.At(path, line, "chat_template_kwargs", $"expected an object; got {Kind(k)}");
            variables = k.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
        }
        return tools is null && variables is null ? ChatTemplateArguments.None : new ChatTemplateArguments(tools, variables);
    }
}

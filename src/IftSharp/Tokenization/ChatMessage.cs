using System.Text.Json;

namespace IftSharp.Tokenization;

/// <summary>
/// One message of a conversation in the shape of TRL's conversational datasets and of transformers' chat templates:
/// <c>role</c> and <c>content</c> (a string, or null beside <c>tool_calls</c>), or <see cref="ContentParts"/> when the
/// content is a list of <c>{"type": "text", "text": ...}</c> (or image) parts; an assistant turn's
/// <see cref="ToolCalls"/>; a tool message's <see cref="ToolCallId"/> and <see cref="Name"/>; Qwen3-style
/// <see cref="ReasoningContent"/>; and any other fields a template reads (gpt-oss's <c>thinking</c>, ...) in
/// <see cref="Extra"/>, passed through unchanged.
/// </summary>
public sealed record ChatMessage(string Role, string? Content)
{
    /// <summary>The content as a list of parts (each a JSON-like dictionary with a <c>type</c>); null for string content.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, object?>>? ContentParts { get; init; }

    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    public string? ReasoningContent { get; init; }

    /// <summary>A tool message's answer to the call with this id.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>A tool message's function name.</summary>
    public string? Name { get; init; }

    /// <summary>Other message fields, in the order they were given; values are strings, numbers, booleans, null, lists,
    /// dictionaries or <see cref="JsonElement"/>s.</summary>
    public IReadOnlyList<KeyValuePair<string, object?>>? Extra { get; init; }

    public bool HasToolCalls => ToolCalls is { Count: > 0 };

    /// <summary>The text of the content: the string, or the text parts joined; "" when there is none.</summary>
    public string Text => Content ?? string.Concat((ContentParts ?? []).Select(p =>
        p.TryGetValue("type", out var t) && t is "text" && p.TryGetValue("text", out var x) && x is string s ? s : ""));

    /// <summary>The texts of the text parts, or the string content as one part.</summary>
    public IReadOnlyList<string> TextParts => ContentParts is null ? Content is null ? [] : [Content]
        : ContentParts.Where(p => p.TryGetValue("type", out var t) && t is "text")
            .Select(p => p.TryGetValue("text", out var x) && x is string s ? s : "").ToList();

    /// <summary>
    /// The message as a chat template sees it (transformers passes the dataset's dictionaries as they are): role, content,
    /// then the fields that are set, in the order <c>reasoning_content</c>, <c>tool_calls</c>, <c>tool_call_id</c>,
    /// <c>name</c>, then <see cref="Extra"/>.
    /// </summary>
    public IReadOnlyDictionary<string, object?> ToTemplateValue()
    {
        // Dictionary keeps insertion order while nothing is removed, which is the order the template iterates
        var d = new Dictionary<string, object?> { ["role"] = Role, ["content"] = ContentParts is null ? Content : ContentParts };
        if (ReasoningContent is not null) d["reasoning_content"] = ReasoningContent;
        if (ToolCalls is not null) d["tool_calls"] = ToolCalls.Select(c => c.ToTemplateValue()).ToList();
        if (ToolCallId is not null) d["tool_call_id"] = ToolCallId;
        if (Name is not null) d["name"] = Name;
        foreach (var (k, v) in Extra ?? []) d[k] = v;
        return d;
    }

    // Value equality over the lists too (records compare list references), so equal turns of two conversations match
    // when a preference row's shared prompt is extracted.
    public bool Equals(ChatMessage? other) =>
        other is not null && Role == other.Role && Content == other.Content && ReasoningContent == other.ReasoningContent
        && ToolCallId == other.ToolCallId && Name == other.Name
        && Canonical(ContentParts) == Canonical(other.ContentParts)
        && Canonical(CallValues()) == Canonical(other.CallValues())
        && Canonical(ExtraPairs()) == Canonical(other.ExtraPairs());

    private List<IReadOnlyDictionary<string, object?>>? CallValues() => ToolCalls?.Select(c => c.ToTemplateValue()).ToList();

    private List<object?[]>? ExtraPairs() => Extra?.Select(kv => new object?[] { kv.Key, kv.Value }).ToList();

    public override int GetHashCode() => HashCode.Combine(Role, Content, ToolCalls?.Count, ContentParts?.Count);

    private static string? Canonical(object? value) => value is null ? null : JsonSerializer.Serialize(value);
}

/// <summary>
/// One tool call of an assistant turn, in the OpenAI / transformers shape
/// <c>{"id": ..., "type": "function", "function": {"name": ..., "arguments": ...}}</c>; <see cref="Arguments"/> is a
/// JSON object (a dictionary or <see cref="JsonElement"/>) or a string of JSON, as the dataset gives it.
/// </summary>
public sealed record ToolCall(string Name, object? Arguments)
{
    public string? Id { get; init; }

    /// <summary>The call's <c>type</c>; null when the dataset gives none (the template then sees no such key).</summary>
    public string? Type { get; init; } = "function";

    public IReadOnlyDictionary<string, object?> ToTemplateValue()
    {
        var d = new Dictionary<string, object?>();
        if (Id is not null) d["id"] = Id;
        if (Type is not null) d["type"] = Type;
        d["function"] = new Dictionary<string, object?> { ["name"] = Name, ["arguments"] = Arguments };
        return d;
    }
}

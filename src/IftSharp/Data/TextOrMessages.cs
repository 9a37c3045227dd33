using IftSharp.Tokenization;

namespace IftSharp.Data;

/// <summary>
/// A prompt or completion field of a row, in either of TRL's forms: plain text (the standard form, tokenised without a
/// chat template) or a list of messages (the conversational form, rendered with the template).
/// </summary>
public sealed record TextOrMessages
{
    private TextOrMessages(string? text, IReadOnlyList<ChatMessage>? messages) => (Text, Messages) = (text, messages);

    public string? Text { get; }

    public IReadOnlyList<ChatMessage>? Messages { get; }

    public bool IsConversational => Messages is not null;

    public static TextOrMessages FromText(string text) => new(text, null);

    public static TextOrMessages FromMessages(IReadOnlyList<ChatMessage> messages) => new(null, messages);

    public static implicit operator TextOrMessages(string text) => FromText(text);

    public static implicit operator TextOrMessages(List<ChatMessage> messages) => FromMessages(messages);

    /// <summary>As messages: plain text becomes one message of <paramref name="role"/>.</summary>
    public IReadOnlyList<ChatMessage> AsMessages(string role) => Messages ?? [new ChatMessage(role, Text!)];
}

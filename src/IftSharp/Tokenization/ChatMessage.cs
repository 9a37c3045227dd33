namespace IftSharp.Tokenization;

/// <summary>One message of a conversation, as in TRL's conversational datasets (<c>role</c>, <c>content</c>).</summary>
public sealed record ChatMessage(string Role, string Content);

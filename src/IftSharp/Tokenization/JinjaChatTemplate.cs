using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using IftSharp.Core;
using IftSharp.Tokenization.Jinja;

namespace IftSharp.Tokenization;

/// <summary>
/// A Hugging Face chat template (the Jinja <c>chat_template</c> of <c>tokenizer_config.json</c>) rendered as
/// <c>transformers</c>' <c>apply_chat_template</c> renders it: Jinja2 in an immutable sandbox with <c>trim_blocks</c>,
/// <c>lstrip_blocks</c> and loop controls, the globals <c>raise_exception</c> and <c>strftime_now</c>, transformers'
/// <c>tojson</c>, and the context <c>messages</c>, <c>add_generation_prompt</c>, <c>tools</c>/<c>documents</c> (None) and the
/// special-token strings. The interpreter (Tokenization/Jinja) covers the subset real chat templates use; a template
/// outside it fails at load with the construct and line, so nothing renders differently from Python silently.
/// The interpreter is written here rather than taken from NuGet because what matters is byte-identical output to Python's
/// Jinja2: its lexer's trim_blocks/lstrip_blocks rules, Undefined, Python's str/repr and float formatting, dict order,
/// loop scoping and json.dumps spacing; .NET template engines (Liquid dialects and the like) differ on these.
/// <para>
/// Assistant spans. If the template has <c>{% generation %}</c> blocks, the spans are exactly the text those blocks emit
/// (transformers' <c>return_assistant_tokens_mask</c>). Otherwise they are located in the rendered text: messages are
/// walked in order with a cursor; each message's content is searched from the cursor as written, else stripped of
/// surrounding whitespace (templates such as Llama-3's trim it), else — for content holding a <c>&lt;/think&gt;</c> —
/// the stripped answer after it (reasoning templates rewrite or drop the thinking). For an assistant message the first
/// occurrence directly followed by an end-of-turn marker (the eos token, another special-token string, or a
/// <c>&lt;|...|&gt;</c> token such as <c>&lt;|im_end|&gt;</c>, <c>&lt;|eot_id|&gt;</c>) is preferred, so an answer that also
/// appears in a header or earlier text is not mistaken; the span is that content plus the marker. When the message has
/// reasoning (a <c>reasoning_content</c> field or thinking in its content) and the template wrote a <c>&lt;think&gt;</c>
/// between the turn's last special token and the answer, the span starts at that <c>&lt;think&gt;</c>, since the model
/// generates it. An assistant message whose content cannot be found (empty, or rewritten) is an InputException.
/// For ChatML this is the same as <see cref="ChatMlTemplate"/>: content plus <c>&lt;|im_end|&gt;</c>.
/// </para>
/// </summary>
public sealed partial class JinjaChatTemplate : IChatTemplate
{
    private static readonly string[] TokenFields =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private readonly List<Node> _body;
    private readonly bool _usesGeneration;
    private readonly Dictionary<string, object?> _tokens = [];
    private readonly List<string> _markers;
    private readonly List<string> _endOfTurn;

    private static readonly string[] EndOfTurnTokens =
        ["<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<|call|>", "<|return|>", "<end_of_turn>", "</s>", "<|endoftext|>"];

    /// <summary>The Jinja source.</summary>
    public string Source { get; }

    /// <param name="source">The Jinja text of the template.</param>
    /// <param name="specialTokens">Context variables for the special tokens: strings (<c>bos_token</c>, <c>eos_token</c>, ...)
    /// or string lists (<c>additional_special_tokens</c>); null values are left out, as transformers leaves them out.</param>
    public JinjaChatTemplate(string source, IReadOnlyDictionary<string, object?>? specialTokens = null)
    {
        Source = source;
        (_body, _usesGeneration) = JinjaParser.Parse(source);
        foreach (var (name, value) in specialTokens ?? new Dictionary<string, object?>())
            if (value is not null) _tokens[name] = Py.FromClr(value);
        _markers = _tokens.Values.SelectMany(v => v is string s ? [s] : v is List<object?> l ? l.OfType<string>() : [])
            .Where(s => s.Length > 0).Distinct().OrderByDescending(s => s.Length).ToList();
        _endOfTurn = [.. EndOfTurnTokens];
        if (_tokens.TryGetValue("eos_token", out var eos) && eos is string { Length: > 0 } e && !_endOfTurn.Contains(e)) _endOfTurn.Add(e);
    }

    /// <summary>Reads <c>chat_template</c> and the special-token strings of a <c>tokenizer_config.json</c>.</summary>
    public static JinjaChatTemplate FromTokenizerConfig(string path)
    {
        string json;
        try { json = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"{path}: cannot read: {e.Message}", e);
        }
        return FromTokenizerConfigJson(json, path);
    }

    /// <summary>As <see cref="FromTokenizerConfig"/>, from the file's text; <paramref name="origin"/> names it in errors.</summary>
    public static JinjaChatTemplate FromTokenizerConfigJson(string json, string origin = "tokenizer_config.json")
    {
        JsonElement root;
        try { root = JsonDocument.Parse(json).RootElement; }
        catch (JsonException e) { throw InputException.At(origin, (int?)e.LineNumber + 1, null, $"invalid JSON: {e.Message}"); }
        if (root.ValueKind != JsonValueKind.Object) throw InputException.At(origin, null, null, "expected a JSON object");
        if (!root.TryGetProperty("chat_template", out var ct) || ct.ValueKind == JsonValueKind.Null)
            throw InputException.At(origin, null, "chat_template", "missing: this tokenizer has no chat template");
        string source = ct.ValueKind switch
        {
            JsonValueKind.String => ct.GetString()!,
            // the list form names several templates; transformers uses "default" for plain chat
            JsonValueKind.Array => ct.EnumerateArray()
                .Where(t => t.ValueKind == JsonValueKind.Object && t.TryGetProperty("name", out var n)
                            && n.ValueKind == JsonValueKind.String && n.GetString() == "default")
                .Select(t => t.TryGetProperty("template", out var s) && s.ValueKind == JsonValueKind.String
                    ? s.GetString()!
                    : throw InputException.At(origin, null, "chat_template", "the 'default' entry has no string 'template'"))
                .FirstOrDefault()
                    ?? throw InputException.At(origin, null, "chat_template", "no entry named 'default' in the list of templates"),
            _ => throw InputException.At(origin, null, "chat_template", "expected a string or a list of {name, template}"),
        };
        var tokens = new Dictionary<string, object?>();
        foreach (var field in TokenFields)
            if (root.TryGetProperty(field, out var t) && TokenString(t, origin, field) is { } s) tokens[field] = s;
        if (root.TryGetProperty("additional_special_tokens", out var extra) && extra.ValueKind == JsonValueKind.Array)
            tokens["additional_special_tokens"] = extra.EnumerateArray()
                .Select(t => TokenString(t, origin, "additional_special_tokens")).OfType<string>().ToList();
        try { return new JinjaChatTemplate(source, tokens); }
        catch (InputException e) { throw InputException.At(origin, null, "chat_template", e.Message); }
    }

    private static string? TokenString(JsonElement t, string origin, string field) => t.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => t.GetString(),
        JsonValueKind.Object when t.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
        _ => throw InputException.At(origin, null, field, "expected a string or an object with a string 'content'"),
    };

    /// <summary>Whether the template marks assistant output with <c>{% generation %}</c> blocks.</summary>
    public bool HasGenerationBlocks => _usesGeneration;

    /// <summary>The clock <c>strftime_now</c> reads (Llama 3.2's and gpt-oss's date lines); the local time by default.</summary>
    public Func<DateTime> Clock { get; init; } = () => DateTime.Now;

    public RenderedChat Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false,
        ChatTemplateArguments? arguments = null) =>
        Render(messages.Select(m => m.ToTemplateValue()).ToList(), addGenerationPrompt, Context(arguments));

    public string RenderText(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false,
        ChatTemplateArguments? arguments = null) =>
        RenderText(messages.Select(m => m.ToTemplateValue()).ToList(), addGenerationPrompt, Context(arguments));

    private static Dictionary<string, object?>? Context(ChatTemplateArguments? arguments)
    {
        if (arguments is null || arguments.Tools is null && arguments.Variables is null) return null;
        var context = new Dictionary<string, object?>();
        if (arguments.Tools is not null) context["tools"] = arguments.Tools;
        foreach (var (name, value) in arguments.Variables ?? new Dictionary<string, object?>()) context[name] = value;
        return context;
    }

    /// <summary>
    /// Renders messages with any fields the template reads (<c>reasoning_content</c>, <c>tool_calls</c>, ...): values may be
    /// strings, numbers, booleans, null, lists, dictionaries or <see cref="JsonElement"/>s. <paramref name="extraContext"/>
    /// adds template variables, as apply_chat_template's keyword arguments do (e.g. <c>tools</c>, <c>enable_thinking</c>).
    /// </summary>
    public RenderedChat Render(IReadOnlyList<IReadOnlyDictionary<string, object?>> messages, bool addGenerationPrompt = false,
        IReadOnlyDictionary<string, object?>? extraContext = null)
    {
        var values = messages.Select(m => (PyDict)Py.FromClr(m)!).ToList();
        var (text, generationSpans) = RenderValues(values, addGenerationPrompt, extraContext);
        return _usesGeneration ? new RenderedChat(text, generationSpans, FromGenerationBlocks: true)
            : new RenderedChat(text, LocateAssistantSpans(text, values, extraContext));
    }

    /// <summary>Only the text (no assistant spans, so no error when an assistant turn cannot be located).</summary>
    public string RenderText(IReadOnlyList<IReadOnlyDictionary<string, object?>> messages, bool addGenerationPrompt = false,
        IReadOnlyDictionary<string, object?>? extraContext = null) =>
        RenderValues(messages.Select(m => (PyDict)Py.FromClr(m)!).ToList(), addGenerationPrompt, extraContext).Text;

    private (string Text, List<(int Start, int End)> GenerationSpans) RenderValues(List<PyDict> messages, bool addGenerationPrompt,
        IReadOnlyDictionary<string, object?>? extraContext)
    {
        var globals = new Scope(null);
        globals.Set("range", new Callable("range", Range));
        globals.Set("namespace", new Callable("namespace", (args, kwargs) =>
        {
            var ns = new Namespace();
            foreach (var a in args)
            {
                if (a is not PyDict d) throw new JinjaRuntimeException("namespace() takes a dict or keyword arguments");
                foreach (var (k, v) in d) ns.Attributes[Py.Str(k)] = v;
            }
            foreach (var (k, v) in kwargs) ns.Attributes[k] = v;
            return ns;
        }));
        globals.Set("dict", new Callable("dict", (args, kwargs) =>
        {
            var d = new PyDict();
            if (args.Count > 0) throw new JinjaRuntimeException("dict() with positional arguments is not supported");
            foreach (var (k, v) in kwargs) d[k] = v;
            return d;
        }));
        globals.Set("raise_exception", new Callable("raise_exception", (args, _) =>
            throw new InputException(args.Count > 0 ? Py.Str(args[0]) : "raise_exception() called by the chat template")));
        globals.Set("strftime_now", new Callable("strftime_now", (args, _) =>
            Strftime(Clock(), args.Count > 0 ? Py.Str(args[0]) : throw new JinjaRuntimeException("strftime_now() needs a format"))));
        var context = new Scope(globals);
        foreach (var (name, value) in _tokens) context.Set(name, value);
        context.Set("messages", messages.Cast<object?>().ToList());
        context.Set("tools", null);
        context.Set("documents", null);
        context.Set("add_generation_prompt", addGenerationPrompt);
        foreach (var (name, value) in extraContext ?? new Dictionary<string, object?>()) context.Set(name, Py.FromClr(value));
        return JinjaRenderer.Render(_body, context);
    }

    private static object? Range(List<object?> args, List<(string Name, object? Value)> kwargs)
    {
        if (args.Count is < 1 or > 3 || kwargs.Count > 0) throw new JinjaRuntimeException("range() takes 1 to 3 integer arguments");
        long start = args.Count == 1 ? 0 : Py.ToLong(args[0]);
        long stop = Py.ToLong(args.Count == 1 ? args[0] : args[1]);
        long step = args.Count == 3 ? Py.ToLong(args[2]) : 1;
        if (step == 0) throw new JinjaRuntimeException("range() arg 3 must not be zero");
        var items = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            // the sandbox's limit
            if (items.Count >= 100_000) throw new JinjaRuntimeException("range too big (more than 100000 items)");
            items.Add(i);
        }
        string repr = args.Count == 3 ? $"range({start}, {stop}, {step})" : $"range({start}, {stop})";
        return new PyIterable("range", items, repr);
    }

    /// <summary>The C-library strftime directives templates use (Llama 3.1's "%d %b %Y" and the like).</summary>
    internal static string Strftime(DateTime t, string format)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            char c = format[++i];
            bool noPad = c == '-' && i + 1 < format.Length;
            if (noPad) c = format[++i];
            string Num(int v, int width) => noPad ? v.ToString(inv) : v.ToString(new string('0', width), inv);
            sb.Append(c switch
            {
                'Y' => t.Year.ToString(inv),
                'y' => Num(t.Year % 100, 2),
                'm' => Num(t.Month, 2),
                'd' => Num(t.Day, 2),
                'e' => t.Day.ToString(inv).PadLeft(2),
                'H' => Num(t.Hour, 2),
                'I' => Num(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2),
                'M' => Num(t.Minute, 2),
                'S' => Num(t.Second, 2),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'B' => t.ToString("MMMM", inv),
                'b' or 'h' => t.ToString("MMM", inv),
                'A' => t.ToString("dddd", inv),
                'a' => t.ToString("ddd", inv),
                'j' => Num(t.DayOfYear, 3),
                '%' => "%",
                _ => throw new JinjaRuntimeException($"strftime directive '%{c}' is not supported"),
            });
        }
        return sb.ToString();
    }

    [GeneratedRegex(@"\G<\|[^|\s<>]{1,64}\|>")]
    private static partial Regex SpecialTokenAt();

    /// <summary>Length of the end-of-turn marker at <paramref name="at"/>, or 0.</summary>
    private int MarkerAt(string text, int at)
    {
        foreach (var m in _markers)
            if (string.CompareOrdinal(text, at, m, 0, m.Length) == 0) return m.Length;
        var match = SpecialTokenAt().Match(text, at);
        return match.Success ? match.Length : 0;
    }

    /// <summary>The texts a message's content may appear as in the render, most literal first.</summary>
    private static List<string> ContentCandidates(PyDict m)
    {
        var candidates = new List<string>();
        var content = m.TryGetValue("content", out var c) ? c : null;
        if (content is string s)
        {
            candidates.Add(s);
            candidates.Add(Py.Strip(s));
            int think = s.LastIndexOf("</think>", StringComparison.Ordinal);
            if (think >= 0) candidates.Add(Py.Strip(s[(think + "</think>".Length)..]));
        }
        else if (content is List<object?> parts)
        {
            // a list of {"type": "text", "text": ...} parts: templates write the texts one after another, some trimmed
            var texts = parts.OfType<PyDict>().Where(p => p.TryGetValue("type", out var t) && t is "text")
                .Select(p => p.TryGetValue("text", out var x) && x is string xs ? xs : "").ToList();
            candidates.Add(string.Concat(texts));
            candidates.Add(string.Concat(texts.Select(t => Py.Strip(t))));
            candidates.Add(Py.Strip(string.Concat(texts)));
        }
        return candidates.Where(x => x.Length > 0).Distinct().ToList();
    }

    private static bool HasToolCalls(PyDict m) => m.TryGetValue("tool_calls", out var calls) && calls is List<object?> { Count: > 0 };

    private List<(int Start, int End)> LocateAssistantSpans(string text, List<PyDict> messages,
        IReadOnlyDictionary<string, object?>? extraContext)
    {
        var spans = new List<(int, int)>();
        int cursor = 0;
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            bool assistant = m.TryGetValue("role", out var role) && role is string r && r == "assistant";
            var candidates = ContentCandidates(m);
            if (!assistant)
            {
                foreach (var cand in candidates)
                {
                    int at = text.IndexOf(cand, cursor, StringComparison.Ordinal);
                    if (at >= 0) { cursor = at + cand.Length; break; }
                }
                continue;
            }
            bool toolCalls = HasToolCalls(m);
            (int Start, int End) span;
            if (candidates.Count == 0 && toolCalls) span = LocateToolCallTurn(text, messages, i, cursor, extraContext);
            else
            {
                (int Start, int End, int Marker)? found = null;
                foreach (var cand in candidates)
                {
                    int at = text.IndexOf(cand, cursor, StringComparison.Ordinal);
                    for (; at >= 0; at = text.IndexOf(cand, at + 1, StringComparison.Ordinal))
                    {
                        int marker = MarkerAt(text, at + cand.Length);
                        if (marker > 0) { found = (at, at + cand.Length, marker); break; }
                        found ??= (at, at + cand.Length, 0);
                    }
                    if (found is { Marker: > 0 }) break;
                }
                if (found is not { } f)
                    throw new InputException($"chat template: the content of message {i} (assistant) does not appear in the rendered " +
                        "text, so its span for the loss cannot be located" +
                        (candidates.Count == 0 ? " (the content is empty or not a string, and there are no tool calls)" : ""));
                int start = f.Start;
                var content = m.TryGetValue("content", out var c) ? c as string : null;
                bool reasoning = m.TryGetValue("reasoning_content", out var rc) && rc is string rcs && rcs.Length > 0
                    || content is not null && content.Contains("</think>", StringComparison.Ordinal);
                if (reasoning)
                {
                    int think = text.LastIndexOf("<think>", Math.Max(0, f.Start - 1), StringComparison.Ordinal);
                    if (think >= cursor && !HasMarkerBetween(text, think, f.Start)) start = think;
                }
                // the tool calls a template writes after the content belong to the turn, up to its end-of-turn marker
                int end = f.Marker > 0 ? f.End + f.Marker : toolCalls ? EndOfTurn(text, f.End, i) : f.End;
                span = (start, end);
            }
            if (toolCalls && i + 1 < messages.Count)
            {
                // where the next message begins, when the render up to this turn is a prefix of the whole: a turn whose
                // tool calls the template never closes must not swallow the tool's answer
                var upTo = RenderValues(messages.Take(i + 1).ToList(), addGenerationPrompt: false, extraContext).Text;
                if (text.StartsWith(upTo, StringComparison.Ordinal) && span.End > upTo.Length)
                    throw new InputException($"chat template: message {i} (assistant): no end-of-turn marker closes its tool calls " +
                        "before the next message, so its span for the loss cannot be located");
            }
            spans.Add(span);
            cursor = span.End;
        }
        return spans;
    }

    /// <summary>
    /// An assistant turn of tool calls only (no content to find): it starts where the conversation up to it, rendered with
    /// the generation prompt, ends (as TRL's prompt-completion rule splits a turn), and runs through the first end-of-turn
    /// marker after that.
    /// </summary>
    private (int Start, int End) LocateToolCallTurn(string text, List<PyDict> messages, int index, int cursor,
        IReadOnlyDictionary<string, object?>? extraContext)
    {
        var prefix = RenderValues(messages.Take(index).ToList(), addGenerationPrompt: true, extraContext).Text;
        if (prefix.Length < cursor || !text.StartsWith(prefix, StringComparison.Ordinal))
            throw new InputException($"chat template: message {index} (assistant) has tool calls and no content, and the " +
                "conversation before it rendered with the generation prompt is not a prefix of the whole render, so its span for the " +
                "loss cannot be located");
        return (prefix.Length, EndOfTurn(text, prefix.Length, index));
    }

    /// <summary>The end of the first end-of-turn token after <paramref name="from"/>: the eos token or one of the real
    /// templates' (tool-call turns hold other special tokens, like gpt-oss's <c>&lt;|channel|&gt;</c>, that do not end them).</summary>
    private int EndOfTurn(string text, int from, int index)
    {
        for (int p = from + 1; p < text.Length; p++)
            foreach (var token in _endOfTurn)
                if (string.CompareOrdinal(text, p, token, 0, token.Length) == 0) return p + token.Length;
        throw new InputException($"chat template: message {index} (assistant): no end-of-turn marker follows its tool calls, " +
            "so its span for the loss cannot be located");
    }

    private bool HasMarkerBetween(string text, int from, int to)
    {
        for (int i = from; i < to; i++)
            if (text[i] == '<' && MarkerAt(text, i) > 0) return true;
        return false;
    }
}

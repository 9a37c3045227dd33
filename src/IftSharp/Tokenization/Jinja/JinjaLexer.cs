using System.Globalization;
using System.Text;

namespace IftSharp.Tokenization.Jinja;

internal enum TokenKind { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Op, Eof }

internal readonly record struct Token(TokenKind Kind, string Value, int Line, object? Literal = null)
{
    public bool IsName(string value) => Kind == TokenKind.Name && Value == value;
    public bool IsOp(string value) => Kind == TokenKind.Op && Value == value;

    public string Describe() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.VarEnd => "end of print statement '}}'",
        TokenKind.BlockEnd => "end of statement block '%}'",
        TokenKind.Data => "template data",
        _ => $"'{Value}'",
    };
}

/// <summary>
/// Splits template source into data and tag tokens the way Jinja2's lexer does with <c>trim_blocks</c> and
/// <c>lstrip_blocks</c> on (transformers' setting): whitespace control is applied here, so the parser only sees the
/// data that will really be emitted.
/// </summary>
internal static class JinjaLexer
{
    private static readonly string[] Operators =
    [
        "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
        ">", "<", "=", ".", ":", "|", ",", ";",
    ];

    public static List<Token> Tokenize(string source)
    {
        // Jinja normalises every newline sequence to "\n" and drops one trailing newline (keep_trailing_newline=False).
        source = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (source.EndsWith('\n')) source = source[..^1];

        var tokens = new List<Token>();
        int pos = 0, line = 1;
        bool lineStarting = true; // did the previous token's match end with a newline (lstrip_blocks at text start)
        while (pos < source.Length)
        {
            int tag = FindTagStart(source, pos);
            if (tag < 0)
            {
                tokens.Add(new Token(TokenKind.Data, source[pos..], line));
                break;
            }
            char kind = source[tag + 1];
            char sign = tag + 2 < source.Length && (source[tag + 2] == '-' || source[tag + 2] == '+') ? source[tag + 2] : '\0';
            string text = source[pos..tag];
            int textLine = line;
            line += Count(source, '\n', pos, tag);
            if (sign == '-') text = Py.RStrip(text);
            else if (sign != '+' && kind != '{')
            {
                int lpos = text.LastIndexOf('\n') + 1;
                if ((lpos > 0 || lineStarting) && lpos < text.Length && text[lpos..].All(Py.IsSpace))
                    text = text[..lpos];
            }
            if (text.Length > 0) tokens.Add(new Token(TokenKind.Data, text, textLine));
            pos = tag + 2 + (sign != '\0' ? 1 : 0);
            int tagLine = line;

            if (kind == '#')
            {
                int end = source.IndexOf("#}", pos, StringComparison.Ordinal);
                if (end < 0) throw JinjaError.Syntax(tagLine, "missing end of comment tag");
                line += Count(source, '\n', pos, end);
                char endSign = end - 1 >= pos && (source[end - 1] == '-' || source[end - 1] == '+') ? source[end - 1] : '\0';
                pos = AfterTagEnd(source, end + 2, endSign, trimBlock: true, ref line);
                lineStarting = source[pos - 1] == '\n';
                continue;
            }

            if (kind == '%')
            {
                int p = pos;
                while (p < source.Length && Py.IsSpace(source[p])) p++;
                if (string.CompareOrdinal(source, p, "raw", 0, 3) == 0
                    && (p + 3 >= source.Length || !char.IsLetterOrDigit(source[p + 3]) && source[p + 3] != '_'))
                    throw JinjaError.Unsupported(tagLine, "the '{% raw %}' tag");
            }

            tokens.Add(new Token(kind == '%' ? TokenKind.BlockBegin : TokenKind.VarBegin, kind == '%' ? "{%" : "{{", tagLine));
            pos = LexTag(source, pos, kind == '%', tokens, ref line);
            lineStarting = source[pos - 1] == '\n';
        }
        tokens.Add(new Token(TokenKind.Eof, "", line));
        return tokens;
    }

    private static int FindTagStart(string s, int from)
    {
        for (int i = s.IndexOf('{', from); i >= 0 && i + 1 < s.Length; i = s.IndexOf('{', i + 1))
            if (s[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    private static int Count(string s, char c, int from, int to)
    {
        int n = 0;
        for (int i = from; i < to; i++) if (s[i] == c) n++;
        return n;
    }

    /// <summary>After a tag's closing delimiter: '-' eats all following whitespace, trim_blocks eats one newline.</summary>
    private static int AfterTagEnd(string s, int pos, char endSign, bool trimBlock, ref int line)
    {
        if (endSign == '-')
        {
            while (pos < s.Length && Py.IsSpace(s[pos])) { if (s[pos] == '\n') line++; pos++; }
        }
        else if (endSign != '+' && trimBlock && pos < s.Length && s[pos] == '\n') { pos++; line++; }
        return pos;
    }

    private static int LexTag(string s, int pos, bool block, List<Token> tokens, ref int line)
    {
        var brackets = new Stack<char>();
        string close = block ? "%}" : "}}";
        while (true)
        {
            if (pos >= s.Length) throw JinjaError.Syntax(line, $"unexpected end of template, expected '{close}'");
            if (brackets.Count == 0)
            {
                foreach (var sign in block ? "-+\0" : "-\0")
                {
                    string candidate = sign == '\0' ? close : sign + close;
                    if (string.CompareOrdinal(s, pos, candidate, 0, candidate.Length) != 0) continue;
                    tokens.Add(new Token(block ? TokenKind.BlockEnd : TokenKind.VarEnd, close, line));
                    return AfterTagEnd(s, pos + candidate.Length, sign, trimBlock: block, ref line);
                }
            }
            char c = s[pos];
            if (Py.IsSpace(c)) { if (c == '\n') line++; pos++; continue; }
            if (char.IsAsciiDigit(c)) { pos = LexNumber(s, pos, tokens, line); continue; }
            if (char.IsLetter(c) || c == '_')
            {
                int start = pos;
                while (pos < s.Length && (char.IsLetterOrDigit(s[pos]) || s[pos] == '_')) pos++;
                tokens.Add(new Token(TokenKind.Name, s[start..pos], line));
                continue;
            }
            if (c is '\'' or '"') { pos = LexString(s, pos, tokens, ref line); continue; }
            string? op = Operators.FirstOrDefault(o => string.CompareOrdinal(s, pos, o, 0, o.Length) == 0);
            if (op is null) throw JinjaError.Syntax(line, $"unexpected char '{c}'");
            if (op is "(" or "[" or "{") brackets.Push(op[0]);
            else if (op is ")" or "]" or "}")
            {
                char expected = op == ")" ? '(' : op == "]" ? '[' : '{';
                if (brackets.Count == 0 || brackets.Pop() != expected) throw JinjaError.Syntax(line, $"unexpected '{op}'");
            }
            tokens.Add(new Token(TokenKind.Op, op, line));
            pos += op.Length;
        }
    }

    private static int LexNumber(string s, int pos, List<Token> tokens, int line)
    {
        int start = pos;
        static int Digits(string s, int p)
        {
            while (p < s.Length && (char.IsAsciiDigit(s[p]) || s[p] == '_' && p + 1 < s.Length && char.IsAsciiDigit(s[p + 1]))) p++;
            return p;
        }
        pos = Digits(s, pos);
        bool isFloat = false;
        bool afterDot = start > 0 && s[start - 1] == '.'; // "x.0.1" is two subscripts, not a float (Jinja's lookbehind)
        if (!afterDot && pos + 1 < s.Length && s[pos] == '.' && char.IsAsciiDigit(s[pos + 1])) { pos = Digits(s, pos + 1); isFloat = true; }
        if (!afterDot && pos < s.Length && (s[pos] is 'e' or 'E'))
        {
            int p = pos + 1;
            if (p < s.Length && (s[p] is '+' or '-')) p++;
            if (p < s.Length && char.IsAsciiDigit(s[p])) { pos = Digits(s, p); isFloat = true; }
        }
        string text = s[start..pos].Replace("_", "");
        if (isFloat) tokens.Add(new Token(TokenKind.Float, text, line, double.Parse(text, CultureInfo.InvariantCulture)));
        else
        {
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
                throw JinjaError.Syntax(line, $"integer literal {text} is too large");
            tokens.Add(new Token(TokenKind.Integer, text, line, v));
        }
        return pos;
    }

    private static int LexString(string s, int pos, List<Token> tokens, ref int line)
    {
        char quote = s[pos];
        int startLine = line;
        var raw = new StringBuilder();
        int p = pos + 1;
        while (true)
        {
            if (p >= s.Length) throw JinjaError.Syntax(startLine, "unterminated string literal");
            char c = s[p];
            if (c == quote) break;
            if (c == '\n') line++;
            if (c == '\\' && p + 1 < s.Length) { raw.Append(c).Append(s[p + 1]); if (s[p + 1] == '\n') line++; p += 2; continue; }
            raw.Append(c);
            p++;
        }
        tokens.Add(new Token(TokenKind.String, s[pos..(p + 1)], startLine, Unescape(raw.ToString(), startLine)));
        return p + 1;
    }

    /// <summary>Python's unicode-escape decoding, which Jinja applies to string literals (unknown escapes stay as written).</summary>
    private static string Unescape(string raw, int line)
    {
        if (!raw.Contains('\\')) return raw;
        var sb = new StringBuilder();
        for (int i = 0; i < raw.Length; i++)
        {
            char c = raw[i];
            if (c != '\\' || i + 1 >= raw.Length) { sb.Append(c); continue; }
            char e = raw[++i];
            switch (e)
            {
                case '\n': break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case >= '0' and <= '7':
                {
                    int v = 0, n = 0;
                    for (; n < 3 && i < raw.Length && raw[i] is >= '0' and <= '7'; n++, i++) v = v * 8 + (raw[i] - '0');
                    i--;
                    sb.Append((char)v);
                    break;
                }
                case 'x' or 'u' or 'U':
                {
                    int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (raw.Length - i - 1 < n
                        || !int.TryParse(raw.AsSpan(i + 1, n), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int cp)
                        || cp > 0x10FFFF)
                        throw JinjaError.Syntax(line, $"truncated or invalid \\{e} escape in a string literal");
                    sb.Append(cp is >= 0xD800 and <= 0xDFFF ? ((char)cp).ToString() : char.ConvertFromUtf32(cp));
                    i += n;
                    break;
                }
                case 'N': throw JinjaError.Unsupported(line, "\\N{...} escapes in string literals");
                default: sb.Append('\\').Append(e); break;
            }
        }
        return sb.ToString();
    }
}

namespace IftSharp.Tokenization.Jinja;

/// <summary>
/// Recursive-descent parser following Jinja2's grammar and precedence (condexpr &lt; or &lt; and &lt; not &lt; compare &lt;
/// + - &lt; ~ &lt; * / // % &lt; ** &lt; unary &lt; postfix/filters/tests). Anything outside the supported subset fails here,
/// at load, with the template line, rather than rendering differently from Python.
/// </summary>
internal sealed class JinjaParser
{
    private static readonly HashSet<string> UnsupportedTags =
        ["extends", "block", "include", "import", "from", "raw", "autoescape", "trans", "pluralize", "do"];

    private readonly List<Token> _tokens;
    private int _pos;
    private int _loopDepth;

    private JinjaParser(List<Token> tokens) => _tokens = tokens;

    private bool _usesGeneration;

    /// <summary>The template's statements, and whether it marks assistant output with <c>{% generation %}</c>.</summary>
    public static (List<Node> Body, bool UsesGeneration) Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source));
        var body = parser.Subparse([]);
        if (parser.Current.Kind != TokenKind.Eof) throw JinjaError.Syntax(parser.Current.Line, $"unexpected {parser.Current.Describe()}");
        return (body, parser._usesGeneration);
    }

    private Token Current => _tokens[_pos];
    private Token Look => _tokens[Math.Min(_pos + 1, _tokens.Count - 1)];
    private Token Next() => _tokens[_pos++];

    private bool SkipName(string name) { if (Current.IsName(name)) { _pos++; return true; } return false; }
    private bool SkipOp(string op) { if (Current.IsOp(op)) { _pos++; return true; } return false; }

    private Token Expect(TokenKind kind, string? value = null)
    {
        var t = Current;
        if (t.Kind != kind || value is not null && t.Value != value)
        {
            string wanted = value is not null ? $"'{value}'" : kind switch
            {
                TokenKind.Name => "a name",
                TokenKind.BlockEnd => "end of statement block '%}'",
                TokenKind.VarEnd => "'}}'",
                _ => kind.ToString(),
            };
            throw JinjaError.Syntax(t.Line, $"expected {wanted}, got {t.Describe()}");
        }
        _pos++;
        return t;
    }

    private List<Node> Subparse(string[] endTags)
    {
        var body = new List<Node>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.Eof:
                    if (endTags.Length > 0)
                        throw JinjaError.Syntax(t.Line,
                            $"unexpected end of template, expected {string.Join(" or ", endTags.Select(e => $"'{e}'"))}");
                    return body;
                case TokenKind.Data:
                    _pos++;
                    body.Add(new TextNode(t.Line, t.Value));
                    break;
                case TokenKind.VarBegin:
                    _pos++;
                    body.Add(new OutputNode(t.Line, ParseTuple()));
                    Expect(TokenKind.VarEnd);
                    break;
                case TokenKind.BlockBegin:
                    _pos++;
                    if (Current.Kind == TokenKind.Name && endTags.Contains(Current.Value)) return body;
                    body.Add(ParseStatement());
                    Expect(TokenKind.BlockEnd);
                    break;
                default:
                    throw JinjaError.Syntax(t.Line, $"unexpected {t.Describe()}");
            }
        }
    }

    /// <summary>Ends the opening tag and parses up to one of <paramref name="endTags"/> (left current, or consumed when dropEnd).</summary>
    private List<Node> Statements(string[] endTags, bool dropEnd = false)
    {
        SkipOp(":");
        Expect(TokenKind.BlockEnd);
        var body = Subparse(endTags);
        if (dropEnd) _pos++;
        return body;
    }

    /// <summary>Parses a body where break/continue cannot reach an enclosing loop (a macro, call or captured block).</summary>
    private List<Node> OwnScopeStatements(string endTag)
    {
        int depth = _loopDepth;
        _loopDepth = 0;
        var body = Statements([endTag], dropEnd: true);
        _loopDepth = depth;
        return body;
    }

    private Node ParseStatement()
    {
        var t = Current;
        if (t.Kind != TokenKind.Name) throw JinjaError.Syntax(t.Line, "tag name expected");
        if (UnsupportedTags.Contains(t.Value)) throw JinjaError.Unsupported(t.Line, $"the '{{% {t.Value} %}}' tag");
        _pos++;
        switch (t.Value)
        {
            case "if": return ParseIf(t.Line);
            case "for": return ParseFor(t.Line);
            case "set": return ParseSet(t.Line);
            case "macro":
            {
                var name = Expect(TokenKind.Name).Value;
                var parameters = ParseSignature();
                return new MacroNode(t.Line, name, parameters, OwnScopeStatements("endmacro"));
            }
            case "call":
            {
                var callerParameters = Current.IsOp("(") ? ParseSignature() : [];
                var call = ParseExpression() as CallExpr ?? throw JinjaError.Syntax(t.Line, "expected a call in '{% call %}'");
                return new CallBlockNode(t.Line, call, callerParameters, OwnScopeStatements("endcall"));
            }
            case "filter":
            {
                var filter = ParseFilter(null, startInline: true)!;
                return new FilterBlockNode(t.Line, filter, OwnScopeStatements("endfilter"));
            }
            case "with":
            {
                var assignments = new List<(Target, Expr)>();
                while (Current.Kind != TokenKind.BlockEnd)
                {
                    if (assignments.Count > 0) Expect(TokenKind.Op, ",");
                    var target = ParseTarget([]);
                    Expect(TokenKind.Op, "=");
                    assignments.Add((target, ParseExpression()));
                }
                return new WithNode(t.Line, assignments, Statements(["endwith"], dropEnd: true));
            }
            case "print":
            {
                var items = new List<Node>();
                while (Current.Kind != TokenKind.BlockEnd)
                {
                    if (items.Count > 0) Expect(TokenKind.Op, ",");
                    items.Add(new OutputNode(t.Line, ParseExpression()));
                }
                return new IfNode(t.Line, [(new ConstExpr(t.Line, true), items)], null);
            }
            case "break" or "continue":
                if (_loopDepth == 0) throw JinjaError.Syntax(t.Line, $"'{t.Value}' outside of a loop");
                return t.Value == "break" ? new BreakNode(t.Line) : new ContinueNode(t.Line);
            case "generation":
                _usesGeneration = true;
                return new GenerationNode(t.Line, Statements(["endgeneration"], dropEnd: true));
            default:
                throw JinjaError.Syntax(t.Line, $"unknown tag '{t.Value}'");
        }
    }

    private Node ParseIf(int line)
    {
        var branches = new List<(Expr, List<Node>)>();
        List<Node>? elseBody = null;
        while (true)
        {
            var test = ParseTuple(withCondExpr: false);
            branches.Add((test, Statements(["elif", "else", "endif"])));
            var end = Next();
            if (end.Value == "elif") continue;
            if (end.Value == "else") elseBody = Statements(["endif"], dropEnd: true);
            break;
        }
        return new IfNode(line, branches, elseBody);
    }

    private Node ParseFor(int line)
    {
        var target = ParseTarget(["in"]);
        Expect(TokenKind.Name, "in");
        var iterable = ParseTuple(withCondExpr: false, extraEnd: ["recursive"]);
        Expr? filter = SkipName("if") ? ParseExpression() : null;
        if (Current.IsName("recursive")) throw JinjaError.Unsupported(Current.Line, "recursive for loops");
        _loopDepth++;
        var body = Statements(["endfor", "else"]);
        _loopDepth--;
        List<Node>? elseBody = Next().Value == "else" ? Statements(["endfor"], dropEnd: true) : null;
        return new ForNode(line, target, iterable, filter, body, elseBody);
    }

    private Node ParseSet(int line)
    {
        Target target;
        if (Current.Kind == TokenKind.Name && Look.IsOp("."))
        {
            var ns = Next();
            _pos++;
            target = new NamespaceTarget(ns.Line, ns.Value, Expect(TokenKind.Name).Value);
        }
        else target = ParseTarget([]);
        if (SkipOp("=")) return new SetNode(line, target, ParseTuple());
        var filter = ParseFilter(null);
        return new SetBlockNode(line, target, filter, OwnScopeStatements("endset"));
    }

    private List<(string, Expr?)> ParseSignature()
    {
        var parameters = new List<(string, Expr?)>();
        Expect(TokenKind.Op, "(");
        while (!Current.IsOp(")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Op, ",");
            var name = Expect(TokenKind.Name).Value;
            parameters.Add((name, SkipOp("=") ? ParseExpression() : null));
        }
        Expect(TokenKind.Op, ")");
        return parameters;
    }

    /// <summary>An assignment target: a name, or names separated by commas, optionally in parentheses.</summary>
    private Target ParseTarget(string[] extraEnd)
    {
        int line = Current.Line;
        var items = new List<Target>();
        bool tuple = false;
        while (true)
        {
            if (items.Count > 0) Expect(TokenKind.Op, ",");
            if (IsTupleEnd(extraEnd) || Current.IsOp("=")) break;
            if (SkipOp("("))
            {
                items.Add(ParseTarget([]));
                Expect(TokenKind.Op, ")");
            }
            else
            {
                var name = Expect(TokenKind.Name);
                if (name.Value is "true" or "false" or "none" or "True" or "False" or "None")
                    throw JinjaError.Syntax(name.Line, $"can't assign to '{name.Value}'");
                items.Add(new NameTarget(name.Line, name.Value));
            }
            if (Current.IsOp(",")) tuple = true; else break;
        }
        if (items.Count == 0) throw JinjaError.Syntax(line, $"expected an assignment target, got {Current.Describe()}");
        return tuple ? new TupleTarget(line, items) : items[0];
    }

    private bool IsTupleEnd(string[] extraEnd) =>
        Current.Kind is TokenKind.VarEnd or TokenKind.BlockEnd or TokenKind.Eof || Current.IsOp(")") ||
        Current.Kind == TokenKind.Name && extraEnd.Contains(Current.Value);

    private Expr ParseTuple(bool withCondExpr = true, string[]? extraEnd = null, bool explicitParentheses = false)
    {
        int line = Current.Line;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0) Expect(TokenKind.Op, ",");
            if (IsTupleEnd(extraEnd ?? [])) break;
            items.Add(withCondExpr ? ParseExpression() : ParseOr());
            if (Current.IsOp(",")) isTuple = true; else break;
        }
        if (!isTuple)
        {
            if (items.Count > 0) return items[0];
            if (!explicitParentheses) throw JinjaError.Syntax(line, $"expected an expression, got {Current.Describe()}");
        }
        return new TupleExpr(line, items);
    }

    private Expr ParseExpression()
    {
        var expr = ParseOr();
        while (SkipName("if"))
        {
            var test = ParseOr();
            var otherwise = SkipName("else") ? ParseExpression() : null;
            expr = new CondExpr(expr.Line, test, expr, otherwise);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or")) { int line = Next().Line; left = new BinaryExpr(line, "or", left, ParseAnd()); }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and")) { int line = Next().Line; left = new BinaryExpr(line, "and", left, ParseNot()); }
        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not")) { int line = Next().Line; return new UnaryExpr(line, "not", ParseNot()); }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Op && Current.Value is "==" or "!=" or "<" or "<=" or ">" or ">=")
                rest.Add((Next().Value, ParseMath1()));
            else if (SkipName("in")) rest.Add(("in", ParseMath1()));
            else if (Current.IsName("not") && Look.IsName("in")) { _pos += 2; rest.Add(("not in", ParseMath1())); }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first.Line, first, rest);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.IsOp("+") || Current.IsOp("-")) { var op = Next(); left = new BinaryExpr(op.Line, op.Value, left, ParseConcat()); }
        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMath2();
        while (Current.IsOp("~")) { var op = Next(); left = new BinaryExpr(op.Line, "~", left, ParseMath2()); }
        return left;
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Op && Current.Value is "*" or "/" or "//" or "%")
        {
            var op = Next();
            left = new BinaryExpr(op.Line, op.Value, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary();
        while (Current.IsOp("**")) { var op = Next(); left = new BinaryExpr(op.Line, "**", left, ParseUnary()); }
        return left;
    }

    private Expr ParseUnary(bool withFilter = true)
    {
        Expr node;
        if (Current.IsOp("-") || Current.IsOp("+")) { var op = Next(); node = new UnaryExpr(op.Line, op.Value, ParseUnary(false)); }
        else node = ParsePrimary();
        node = ParsePostfix(node);
        if (withFilter) node = ParseFilterExpr(node);
        return node;
    }

    private Expr ParsePrimary()
    {
        var t = Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                _pos++;
                return t.Value switch
                {
                    "true" or "True" => new ConstExpr(t.Line, true),
                    "false" or "False" => new ConstExpr(t.Line, false),
                    "none" or "None" => new ConstExpr(t.Line, null),
                    _ => new NameExpr(t.Line, t.Value),
                };
            case TokenKind.String:
            {
                _pos++;
                var text = (string)t.Literal!;
                while (Current.Kind == TokenKind.String) text += (string)Next().Literal!; // adjacent literals concatenate
                return new ConstExpr(t.Line, text);
            }
            case TokenKind.Integer or TokenKind.Float:
                _pos++;
                return new ConstExpr(t.Line, t.Literal);
            case TokenKind.Op when t.Value == "(":
            {
                _pos++;
                var inner = ParseTuple(explicitParentheses: true);
                Expect(TokenKind.Op, ")");
                return inner;
            }
            case TokenKind.Op when t.Value == "[":
            {
                _pos++;
                var items = new List<Expr>();
                while (!Current.IsOp("]"))
                {
                    if (items.Count > 0) Expect(TokenKind.Op, ",");
                    if (Current.IsOp("]")) break;
                    items.Add(ParseExpression());
                }
                Expect(TokenKind.Op, "]");
                return new ListExpr(t.Line, items);
            }
            case TokenKind.Op when t.Value == "{":
            {
                _pos++;
                var items = new List<(Expr, Expr)>();
                while (!Current.IsOp("}"))
                {
                    if (items.Count > 0) Expect(TokenKind.Op, ",");
                    if (Current.IsOp("}")) break;
                    var key = ParseExpression();
                    Expect(TokenKind.Op, ":");
                    items.Add((key, ParseExpression()));
                }
                Expect(TokenKind.Op, "}");
                return new DictExpr(t.Line, items);
            }
            default:
                throw JinjaError.Syntax(t.Line, $"unexpected {t.Describe()}");
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (Current.IsOp(".") || Current.IsOp("[")) node = ParseSubscript(node);
            else if (Current.IsOp("(")) node = new CallExpr(Current.Line, node, ParseCallArgs());
            else return node;
        }
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (Current.IsOp("|")) node = ParseFilter(node)!;
            else if (Current.IsName("is")) node = ParseTest(node);
            else if (Current.IsOp("(")) node = new CallExpr(Current.Line, node, ParseCallArgs());
            else return node;
        }
    }

    private Expr ParseSubscript(Expr node)
    {
        var t = Next();
        if (t.Value == ".")
        {
            var attr = Next();
            if (attr.Kind == TokenKind.Name) return new AttrExpr(t.Line, node, attr.Value);
            if (attr.Kind == TokenKind.Integer) return new ItemExpr(t.Line, node, new ConstExpr(attr.Line, attr.Literal));
            throw JinjaError.Syntax(attr.Line, $"expected a name or number after '.', got {attr.Describe()}");
        }
        var args = new List<Expr>();
        while (!Current.IsOp("]"))
        {
            if (args.Count > 0) Expect(TokenKind.Op, ",");
            args.Add(ParseSubscribed());
        }
        Expect(TokenKind.Op, "]");
        return new ItemExpr(t.Line, node, args.Count == 1 ? args[0] : new TupleExpr(t.Line, args));
    }

    private Expr ParseSubscribed()
    {
        int line = Current.Line;
        Expr? start = null;
        if (!SkipOp(":"))
        {
            var node = ParseExpression();
            if (!SkipOp(":")) return node;
            start = node;
        }
        Expr? stop = Current.IsOp(":") || Current.IsOp("]") || Current.IsOp(",") ? null : ParseExpression();
        Expr? step = null;
        if (SkipOp(":") && !Current.IsOp("]") && !Current.IsOp(",")) step = ParseExpression();
        return new SliceExpr(line, start, stop, step);
    }

    private Args ParseCallArgs()
    {
        Expect(TokenKind.Op, "(");
        var positional = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        bool requireComma = false;
        while (!Current.IsOp(")"))
        {
            if (requireComma)
            {
                Expect(TokenKind.Op, ",");
                if (Current.IsOp(")")) break;
            }
            if (Current.IsOp("*") || Current.IsOp("**")) throw JinjaError.Unsupported(Current.Line, "*args / **kwargs in calls");
            if (Current.Kind == TokenKind.Name && Look.IsOp("="))
            {
                var key = Next().Value;
                _pos++;
                keywords.Add((key, ParseExpression()));
            }
            else
            {
                if (keywords.Count > 0) throw JinjaError.Syntax(Current.Line, "positional argument after keyword argument");
                positional.Add(ParseExpression());
            }
            requireComma = true;
        }
        Expect(TokenKind.Op, ")");
        return new Args(positional, keywords);
    }

    private string DottedName()
    {
        var name = Expect(TokenKind.Name).Value;
        while (SkipOp(".")) name += "." + Expect(TokenKind.Name).Value;
        return name;
    }

    private FilterExpr? ParseFilter(Expr? node, bool startInline = false)
    {
        FilterExpr? result = null;
        while (Current.IsOp("|") || startInline)
        {
            if (!startInline) _pos++;
            startInline = false;
            int line = Current.Line;
            var name = DottedName();
            if (!JinjaFilters.Filters.ContainsKey(name)) throw JinjaError.Unsupported(line, $"the filter '{name}'");
            var args = Current.IsOp("(") ? ParseCallArgs() : Args.None;
            node = result = new FilterExpr(line, node, name, args);
        }
        return result;
    }

    private Expr ParseTest(Expr node)
    {
        int line = Next().Line;
        bool negated = SkipName("not");
        var name = DottedName();
        if (!JinjaFilters.Tests.ContainsKey(name)) throw JinjaError.Unsupported(line, $"the test '{name}'");
        var args = Args.None;
        if (Current.IsOp("(")) args = ParseCallArgs();
        else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                  || Current.IsOp("[") || Current.IsOp("{"))
                 && !Current.IsName("else") && !Current.IsName("or") && !Current.IsName("and"))
        {
            if (Current.IsName("is")) throw JinjaError.Syntax(Current.Line, "you cannot chain multiple tests with 'is'");
            args = new Args([ParsePostfix(ParsePrimary())], []);
        }
        Expr test = new TestExpr(line, node, name, args);
        return negated ? new UnaryExpr(line, "not", test) : test;
    }
}

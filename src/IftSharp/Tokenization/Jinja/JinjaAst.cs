namespace IftSharp.Tokenization.Jinja;

// Expressions. Line numbers let run-time errors point at the template line.
internal abstract record Expr(int Line);
internal sealed record ConstExpr(int Line, object? Value) : Expr(Line);
internal sealed record NameExpr(int Line, string Name) : Expr(Line);
internal sealed record ListExpr(int Line, List<Expr> Items) : Expr(Line);
internal sealed record TupleExpr(int Line, List<Expr> Items) : Expr(Line);
internal sealed record DictExpr(int Line, List<(Expr Key, Expr Value)> Items) : Expr(Line);
internal sealed record AttrExpr(int Line, Expr Target, string Name) : Expr(Line);
internal sealed record ItemExpr(int Line, Expr Target, Expr Key) : Expr(Line);
internal sealed record SliceExpr(int Line, Expr? Start, Expr? Stop, Expr? Step) : Expr(Line);
internal sealed record UnaryExpr(int Line, string Op, Expr Operand) : Expr(Line);
internal sealed record BinaryExpr(int Line, string Op, Expr Left, Expr Right) : Expr(Line);
internal sealed record CompareExpr(int Line, Expr First, List<(string Op, Expr Right)> Rest) : Expr(Line);
internal sealed record CondExpr(int Line, Expr Test, Expr Then, Expr? Else) : Expr(Line);
internal sealed record Args(List<Expr> Positional, List<(string Name, Expr Value)> Keywords)
{
    public static readonly Args None = new([], []);
}
internal sealed record CallExpr(int Line, Expr Callee, Args Args) : Expr(Line);
/// <summary>A filter application; <c>Value</c> is null in a filter block or block set, where the body is the input.</summary>
internal sealed record FilterExpr(int Line, Expr? Value, string Name, Args Args) : Expr(Line);
internal sealed record TestExpr(int Line, Expr Value, string Name, Args Args) : Expr(Line);

// Assignment targets.
internal abstract record Target(int Line);
internal sealed record NameTarget(int Line, string Name) : Target(Line);
internal sealed record TupleTarget(int Line, List<Target> Items) : Target(Line);
internal sealed record NamespaceTarget(int Line, string Namespace, string Attribute) : Target(Line);

// Statements.
internal abstract record Node(int Line);
internal sealed record TextNode(int Line, string Text) : Node(Line);
internal sealed record OutputNode(int Line, Expr Value) : Node(Line);
internal sealed record IfNode(int Line, List<(Expr Test, List<Node> Body)> Branches, List<Node>? Else) : Node(Line);
internal sealed record ForNode(int Line, Target Target, Expr Iterable, Expr? Filter, List<Node> Body, List<Node>? Else) : Node(Line);
internal sealed record SetNode(int Line, Target Target, Expr Value) : Node(Line);
internal sealed record SetBlockNode(int Line, Target Target, FilterExpr? Filter, List<Node> Body) : Node(Line);
internal sealed record MacroNode(int Line, string Name, List<(string Name, Expr? Default)> Parameters, List<Node> Body) : Node(Line);
internal sealed record CallBlockNode(int Line, CallExpr Call, List<(string Name, Expr? Default)> CallerParameters, List<Node> Body)
    : Node(Line);
internal sealed record FilterBlockNode(int Line, FilterExpr Filter, List<Node> Body) : Node(Line);
internal sealed record WithNode(int Line, List<(Target Target, Expr Value)> Assignments, List<Node> Body) : Node(Line);
internal sealed record BreakNode(int Line) : Node(Line);
internal sealed record ContinueNode(int Line) : Node(Line);
/// <summary>transformers' <c>{% generation %}</c> block: its output is the assistant text the mask covers.</summary>
internal sealed record GenerationNode(int Line, List<Node> Body) : Node(Line);

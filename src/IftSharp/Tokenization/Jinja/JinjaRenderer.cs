using System.Text;
using IftSharp.Core;

namespace IftSharp.Tokenization.Jinja;

/// <summary>
/// A variable scope. For-loop iterations, macros, captured blocks and with-blocks get a child; if does not (as in Jinja).
/// </summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _vars = [];

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s is not null; s = s._parent)
            if (s._vars.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    private readonly Scope? _parent = parent;

    public void Set(string name, object? value) => _vars[name] = value;
}

/// <summary>Executes a parsed template. Output goes to the innermost buffer; generation spans are offsets in the root one.</summary>
internal sealed class JinjaRenderer
{
    private enum Flow { Normal, Break, Continue }

    private readonly Stack<StringBuilder> _buffers = new();
    private readonly List<(int Start, int End)> _generationSpans = [];

    public static (string Text, List<(int Start, int End)> GenerationSpans) Render(List<Node> template, Scope globals)
    {
        var r = new JinjaRenderer();
        var root = new StringBuilder();
        r._buffers.Push(root);
        r.Exec(template, new Scope(globals));
        return (root.ToString(), r._generationSpans);
    }

    private StringBuilder Out => _buffers.Peek();

    private string Capture(List<Node> body, Scope scope)
    {
        _buffers.Push(new StringBuilder());
        try
        {
            Exec(body, scope);
            return Out.ToString();
        }
        finally { _buffers.Pop(); }
    }

    private Flow Exec(List<Node> nodes, Scope scope)
    {
        foreach (var node in nodes)
        {
            var flow = ExecOne(node, scope);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow ExecOne(Node node, Scope scope)
    {
        try
        {
            switch (node)
            {
                case TextNode t: Out.Append(t.Text); return Flow.Normal;
                case OutputNode o: Out.Append(Py.Str(Eval(o.Value, scope))); return Flow.Normal;
                case IfNode n:
                    foreach (var (test, body) in n.Branches)
                        if (Py.Truthy(Eval(test, scope))) return Exec(body, scope);
                    return n.Else is null ? Flow.Normal : Exec(n.Else, scope);
                case ForNode f: ExecFor(f, scope); return Flow.Normal;
                case SetNode s: Assign(s.Target, Eval(s.Value, scope), scope); return Flow.Normal;
                case SetBlockNode b:
                {
                    object? value = Capture(b.Body, new Scope(scope));
                    if (b.Filter is not null) value = ApplyFilterChain(b.Filter, value, scope);
                    Assign(b.Target, value, scope);
                    return Flow.Normal;
                }
                case MacroNode m: scope.Set(m.Name, MakeMacro(m.Name, m.Parameters, m.Body, scope)); return Flow.Normal;
                case CallBlockNode c:
                {
                    var caller = MakeMacro("caller", c.CallerParameters, c.Body, scope);
                    var (args, kwargs) = EvalArgs(c.Call.Args, scope);
                    Out.Append(Py.Str(CallValue(Eval(c.Call.Callee, scope), args, [.. kwargs, ("caller", caller)])));
                    return Flow.Normal;
                }
                case FilterBlockNode fb:
                    Out.Append(Py.Str(ApplyFilterChain(fb.Filter, Capture(fb.Body, new Scope(scope)), scope)));
                    return Flow.Normal;
                case WithNode w:
                {
                    var inner = new Scope(scope);
                    foreach (var (target, value) in w.Assignments) Assign(target, Eval(value, scope), inner);
                    return Exec(w.Body, inner);
                }
                case BreakNode: return Flow.Break;
                case ContinueNode: return Flow.Continue;
                case GenerationNode g:
                {
                    if (_buffers.Count != 1)
                        throw JinjaError.Unsupported(g.Line, "'{% generation %}' inside a macro, call, filter or set block");
                    int start = Out.Length;
                    Out.Append(Capture(g.Body, new Scope(scope)));
                    _generationSpans.Add((start, Out.Length));
                    return Flow.Normal;
                }
                default: throw new InvalidOperationException(node.GetType().Name);
            }
        }
        catch (JinjaRuntimeException e)
        {
            throw new InputException($"chat template line {node.Line}: {e.Message}");
        }
    }

    private void ExecFor(ForNode f, Scope scope)
    {
        var items = new List<object?>(Py.Iterate(Eval(f.Iterable, scope)));
        if (f.Filter is not null)
            items = items.Where(item =>
            {
                var s = new Scope(scope);
                Assign(f.Target, item, s);
                return Py.Truthy(Eval(f.Filter, s));
            }).ToList();
        if (items.Count == 0)
        {
            if (f.Else is not null) Exec(f.Else, new Scope(scope));
            return;
        }
        var loop = new LoopContext(items);
        for (int i = 0; i < items.Count; i++)
        {
            loop.Index0 = i;
            // a fresh scope per iteration: what the body sets is gone after the loop (Jinja's scoping)
            var iteration = new Scope(scope);
            iteration.Set("loop", loop);
            Assign(f.Target, items[i], iteration);
            if (Exec(f.Body, iteration) == Flow.Break) break;
        }
    }

    private static void Assign(Target target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameTarget n: scope.Set(n.Name, value); break;
            case NamespaceTarget ns:
                if (!scope.TryGet(ns.Namespace, out var obj) || obj is not Namespace space)
                    throw new JinjaRuntimeException($"cannot assign attribute on non-namespace object '{ns.Namespace}'");
                space.Attributes[ns.Attribute] = value;
                break;
            case TupleTarget t:
            {
                var items = Py.Iterate(value);
                if (items.Count != t.Items.Count)
                    throw new JinjaRuntimeException($"cannot unpack {items.Count} values into {t.Items.Count} names");
                for (int i = 0; i < items.Count; i++) Assign(t.Items[i], items[i], scope);
                break;
            }
        }
    }

    private Callable MakeMacro(string name, List<(string Name, Expr? Default)> parameters, List<Node> body, Scope definition) =>
        new(name, (args, kwargs) =>
        {
            if (args.Count > parameters.Count)
                throw new JinjaRuntimeException($"macro '{name}' takes not more than {parameters.Count} argument(s)");
            var scope = new Scope(definition);
            foreach (var (key, value) in kwargs)
            {
                if (key == "caller") scope.Set("caller", value);
                else if (!parameters.Any(p => p.Name == key))
                    throw new JinjaRuntimeException($"macro '{name}' takes no keyword argument '{key}'");
            }
            for (int i = 0; i < parameters.Count; i++)
            {
                var (pname, dflt) = parameters[i];
                int kw = kwargs.FindIndex(k => k.Name == pname);
                object? value = i < args.Count ? args[i]
                    : kw >= 0 ? kwargs[kw].Value
                    : dflt is not null ? Eval(dflt, scope)
                    : new Undefined($"parameter '{pname}' was not provided");
                scope.Set(pname, value);
            }
            return Capture(body, scope);
        });

    private static object? CallValue(object? callee, List<object?> args, List<(string, object?)> kwargs)
    {
        if (callee is Callable c) return c.Function(args, kwargs);
        if (callee is Undefined u) throw u.Error();
        throw new JinjaRuntimeException($"'{Py.TypeName(callee)}' object is not callable");
    }

    private (List<object?> Args, List<(string, object?)> Kwargs) EvalArgs(Args args, Scope scope) =>
        (args.Positional.Select(e => Eval(e, scope)).ToList(), args.Keywords.Select(k => (k.Name, Eval(k.Value, scope))).ToList());

    private object? ApplyFilterChain(FilterExpr filter, object? input, Scope scope)
    {
        object? value = filter.Value is FilterExpr inner ? ApplyFilterChain(inner, input, scope) : input;
        var (args, kwargs) = EvalArgs(filter.Args, scope);
        return JinjaFilters.Filters[filter.Name](value, args, kwargs);
    }

    private object? Eval(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case ConstExpr c: return c.Value;
            case NameExpr n: return scope.TryGet(n.Name, out var v) ? v : new Undefined($"'{n.Name}' is undefined");
            case ListExpr l: return l.Items.Select(e => Eval(e, scope)).ToList();
            case TupleExpr t: return new PyTuple(t.Items.Select(e => Eval(e, scope)).ToList());
            case DictExpr d:
            {
                var dict = new PyDict();
                foreach (var (k, val) in d.Items)
                {
                    var key = Eval(k, scope);
                    if (key is null or Undefined or List<object?> or PyDict)
                        throw new JinjaRuntimeException($"unsupported dict key of type '{Py.TypeName(key)}'");
                    dict[key is Markup m ? m.Text : key] = Eval(val, scope);
                }
                return dict;
            }
            case AttrExpr a: return JinjaObjects.GetAttr(Eval(a.Target, scope), a.Name);
            case ItemExpr i:
            {
                var target = Eval(i.Target, scope);
                if (i.Key is SliceExpr s)
                    return JinjaObjects.Slice(target, OptLong(s.Start, scope), OptLong(s.Stop, scope), OptLong(s.Step, scope));
                return JinjaObjects.GetItem(target, Eval(i.Key, scope));
            }
            case SliceExpr: throw new JinjaRuntimeException("a slice is only allowed inside []");
            case UnaryExpr u:
            {
                var operand = Eval(u.Operand, scope);
                if (u.Op == "not") return !Py.Truthy(operand);
                if (operand is Undefined ud) throw ud.Error();
                if (!Py.IsNumber(operand)) throw new JinjaRuntimeException($"bad operand type for unary {u.Op}: '{Py.TypeName(operand)}'");
                if (u.Op == "+") return operand is bool b ? (b ? 1L : 0L) : operand;
                try { return operand is double dd ? (object)(-dd) : checked(-Py.ToLong(operand)); }
                catch (OverflowException) { throw new JinjaRuntimeException("integer overflow (beyond 64 bits)"); }
            }
            case BinaryExpr b:
            {
                if (b.Op == "and") { var left = Eval(b.Left, scope); return Py.Truthy(left) ? Eval(b.Right, scope) : left; }
                if (b.Op == "or") { var left = Eval(b.Left, scope); return Py.Truthy(left) ? left : Eval(b.Right, scope); }
                if (b.Op == "~") return Py.Str(Eval(b.Left, scope)) + Py.Str(Eval(b.Right, scope));
                return JinjaObjects.Arithmetic(b.Op, Eval(b.Left, scope), Eval(b.Right, scope));
            }
            case CompareExpr c:
            {
                var left = Eval(c.First, scope);
                foreach (var (op, rightExpr) in c.Rest)
                {
                    var right = Eval(rightExpr, scope);
                    bool ok = op switch
                    {
                        "==" => Py.Eq(left, right),
                        "!=" => !Py.Eq(left, right),
                        "<" => Py.Compare(left, right) < 0,
                        "<=" => Py.Compare(left, right) <= 0,
                        ">" => Py.Compare(left, right) > 0,
                        ">=" => Py.Compare(left, right) >= 0,
                        "in" => Py.Contains(right, left),
                        "not in" => !Py.Contains(right, left),
                        _ => throw new InvalidOperationException(op),
                    };
                    if (!ok) return false;
                    left = right;
                }
                return true;
            }
            case CondExpr c:
                if (Py.Truthy(Eval(c.Test, scope))) return Eval(c.Then, scope);
                return c.Else is null
                    ? new Undefined("the inline if-expression evaluated to false and no else section was defined")
                    : Eval(c.Else, scope);
            case CallExpr call:
            {
                var callee = Eval(call.Callee, scope);
                var (args, kwargs) = EvalArgs(call.Args, scope);
                return CallValue(callee, args, kwargs);
            }
            case FilterExpr f:
            {
                var value = f.Value is null ? null : Eval(f.Value, scope);
                var (args, kwargs) = EvalArgs(f.Args, scope);
                return JinjaFilters.Filters[f.Name](value, args, kwargs);
            }
            case TestExpr t:
            {
                var value = Eval(t.Value, scope);
                var (args, kwargs) = EvalArgs(t.Args, scope);
                return JinjaFilters.Tests[t.Name](value, args, kwargs);
            }
            default: throw new InvalidOperationException(expr.GetType().Name);
        }
    }

    private long? OptLong(Expr? e, Scope scope)
    {
        if (e is null) return null;
        var v = Eval(e, scope);
        return v switch
        {
            null => null,
            bool or long => Py.ToLong(v),
            _ => throw new JinjaRuntimeException("slice indices must be integers or None"),
        };
    }
}

using System.Diagnostics;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Training;
using IftSharp.Training.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Benchmarking;

/// <summary>
/// One piece of the step: what it is, how many times a step runs it, and its time a step (all its calls), forward
/// with autograd recording and the backward that follows. Pieces without a backward (the optimizer) have 0 there.
/// </summary>
public sealed record ProfilePiece(string Name, int Calls, double ForwardMs, double BackwardMs)
{
    public double TotalMs => ForwardMs + BackwardMs;
}

/// <summary>
/// The pieces of an SFT step and the whole of it, in one dtype: <see cref="WholeMs"/> is the model's forward, the loss
/// and the backward measured in one go; the pieces' sum falls short of it by what runs between them (views, transposes,
/// residual additions, dispose scopes, autograd's own bookkeeping), reported as <see cref="GlueMs"/>.
/// </summary>
public sealed record StepProfileResult(string Dtype, IReadOnlyList<ProfilePiece> Pieces, double WholeForwardMs, double WholeBackwardMs,
    IReadOnlyList<ProfilePiece> AroundThePasses)
{
    public double WholeMs => WholeForwardMs + WholeBackwardMs;
    public double GlueMs => WholeMs - Pieces.Sum(p => p.TotalMs);
}

/// <summary>
/// Where an SFT step's time goes on the benchmark model: each piece of the forward (embedding, RMSNorm, the attention's
/// projections, RoPE, SDPA, the MLP's products and SwiGLU, the LM head, the log-sum-exp loss) run on its own, with
/// its real inputs' shapes, forward and backward, timed as the median of several calls and multiplied by the number
/// of times a step calls it; then what a step does around the passes (AdamW, clipping, bf16's gradient push and weight
/// pull). The whole pass is timed too, so the pieces can be checked against it. Under bfloat16 the pieces run as the
/// bf16 compute copy runs them (the embedding in float32, the loss's upcast to float32 included in the loss).
/// </summary>
public static class StepProfile
{
    public static StepProfileResult Run(BenchmarkShape shape, ScalarType dtype, int repeats = 9)
    {
        LargeAllocations.Apply();
        var config = shape.Config;
        long b = shape.Batch, t = shape.Sequence, h = shape.Hidden, d = config.HeadDim, heads = shape.Heads;
        int layers = shape.Layers;
        using var scope = NewDisposeScope();
        using var model = ModelFactory.CreateFromConfig(config, seed: 0);
        using var compute = dtype == ScalarType.Float32 ? null : ModelFactory.CreateFromConfig(config, seed: 0);
        var shadow = compute is null ? null : new Bf16Shadow(model, compute);
        LlamaForCausalLM passes = compute ?? model;
        var data = Methods.MethodRegistry.Get("sft").Synthetic(new Methods.SyntheticRequest(shape.Batch, shape.Sequence, shape.Prompt,
            shape.Vocab));
        var batch = Batch.Collate(((Methods.MethodData<Data.TrainingExample>)data).Items, padId: 0);

        Tensor Leaf(params long[] size) => randn(size).to(dtype).requires_grad_(true);
        var x = Leaf(b, t, h);
        var positions = ScalarArithmetic.Range(0, t).unsqueeze(0).expand(b, t);
        var (cos, sin) = passes.Rotary.CosSin(positions, dtype);
        var norm = new RmsNorm(h, config.RmsNormEps);
        norm.to(dtype);
        var attention = new DecoderAttention(config, 0);
        attention.to(dtype);
        var mlp = new DecoderMlp(config);
        mlp.to(dtype);
        Tensor Weight(long rows, long columns) => randn(rows, columns).Times(0.02).to(dtype).requires_grad_(true);
        var wq = Weight(h, h);
        var wGate = Weight(config.IntermediateSize, h);
        var wDown = Weight(h, config.IntermediateSize);
        var q = Leaf(b, heads, t, d);
        var k = Leaf(b, heads, t, d);
        var v = Leaf(b, heads, t, d);
        var gate = Leaf(b, t, config.IntermediateSize);
        var up = Leaf(b, t, config.IntermediateSize);
        var middle = Leaf(b, t, config.IntermediateSize);
        var headWeight = passes.EmbedTokens.weight!;
        var hidden = Leaf(b, t, h);
        var logits = Leaf(b, t, shape.Vocab);
        var ids = batch.InputIds;

        var pieces = new List<ProfilePiece>
        {
            Piece("embedding lookup", 1, () => passes.EmbedTokens.forward(ids), [headWeight], repeats),
            Piece("RMSNorm", 2 * layers + 1, () => norm.forward(x), [x, .. norm.parameters()], repeats),
            Piece("attention: q, k, v, o products", 4 * layers, () => nn.functional.linear(x, wq), [x, wq], repeats),
            Piece("attention: RoPE (q and k)", 2 * layers, () => RotaryEmbedding.Apply(q, cos, sin), [q], repeats),
            Piece("attention: SDPA", layers, () => nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true), [q, k, v],
                repeats),
            Piece("MLP: gate and up products", 2 * layers, () => nn.functional.linear(x, wGate), [x, wGate], repeats),
            Piece("MLP: SiLU(gate)·up", layers, () => nn.functional.silu(gate) * up, [gate, up], repeats),
            Piece("MLP: down product", layers, () => nn.functional.linear(middle, wDown), [middle, wDown], repeats),
            Piece("LM head product", 1, () => passes.Head(hidden), [hidden, headWeight], repeats),
            Piece("loss: log-sum-exp and gather", 1, () =>
            {
                var (logps, mask) = TokenLogProbs.Gather(logits, batch.Labels);
                return -(logps * mask).sum() / mask.sum();
            }, [logits], repeats),
        };
        var whole = Piece("whole pass", 1, () =>
        {
            var scores = Methods.SequenceScores.Of(passes, batch);
            return -(scores.Logps * scores.Mask).sum() / scores.Mask.sum();
        }, passes.parameters().Where(p => p.requires_grad).Cast<Tensor>().ToList(), repeats);
        // A block as the model runs it, for the share of the block's own glue (each piece above is inside it).
        pieces.Add(Piece("(attention block, whole)", 0, () => attention.Forward(x, cos, sin, null, causal: true, cache: null),
            [x, .. attention.parameters()], repeats));
        pieces.Add(Piece("(MLP block, whole)", 0, () => mlp.forward(x), [x, .. mlp.parameters()], repeats));

        var around = AroundThePasses(model, passes, shadow, batch, repeats);
        var counted = pieces.Where(p => p.Calls > 0).ToList();
        return new StepProfileResult(dtype.ToString(), [.. counted, .. pieces.Where(p => p.Calls == 0)], whole.ForwardMs, whole.BackwardMs,
            around);
    }

    /// <summary>
    /// AdamW's step, the gradient-norm clipping, and under bf16 the gradient push and weight pull, after a real backward.
    /// </summary>
    private static List<ProfilePiece> AroundThePasses(ICausalLM model, ICausalLM passes, Bf16Shadow? shadow, Batch batch, int repeats)
    {
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        using var optimizer = new AdamWOptimizer(parameters, 1e-5);
        void Backward()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var scores = Methods.SequenceScores.Of(passes, batch);
            (-(scores.Logps * scores.Mask).sum() / scores.Mask.sum()).backward();
            shadow?.PushGradients();
        }
        Backward();
        var result = new List<ProfilePiece>
        {
            Timed("AdamW step", () => optimizer.step(), repeats),
            Timed("gradient-norm clipping (1.0)", () => nn.utils.clip_grad_norm_(parameters, 1.0), repeats),
        };
        if (shadow is not null)
        {
            result.Add(Timed("bf16: weights pulled from the float32 masters", shadow.PullWeights, repeats));
            // Each push consumes the compute copy's gradients, so every timed push gets its own backward first.
            var pushes = new List<double>();
            for (int r = 0; r < repeats; r++)
            {
                using var scope = NewDisposeScope();
                var scores = Methods.SequenceScores.Of(passes, batch);
                (-(scores.Logps * scores.Mask).sum() / scores.Mask.sum()).backward();
                var clock = Stopwatch.StartNew();
                shadow.PushGradients();
                pushes.Add(clock.Elapsed.TotalMilliseconds);
            }
            result.Add(new ProfilePiece("bf16: gradients pushed into the masters", 1, Median(pushes), 0));
        }
        return result;
    }

    private static ProfilePiece Timed(string name, Action action, int repeats)
    {
        for (int w = 0; w < 2; w++) Once(action);
        var times = Enumerable.Range(0, repeats).Select(_ => Once(action)).ToList();
        return new ProfilePiece(name, 1, Median(times), 0);
    }

    private static double Once(Action action)
    {
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>
    /// The median forward time of <paramref name="forward"/> with autograd recording, and the median of forward plus the
    /// gradient of its output with respect to <paramref name="inputs"/> minus it, each a step's worth (× <paramref name="calls"/>;
    /// per call when 0).
    /// </summary>
    private static ProfilePiece Piece(string name, int calls, Func<Tensor> forward, IList<Tensor> inputs, int repeats)
    {
        Tensor upstream;
        using (var warm = NewDisposeScope())
        {
            var y = forward();
            upstream = (y.dim() == 0 ? ones_like(y) : randn_like(y)).DetachFromDisposeScope();
        }
        using var _ = upstream;
        var forwards = new List<double>();
        var both = new List<double>();
        for (int r = 0; r < repeats + 2; r++)
        {
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            var y = forward();
            double f = clock.Elapsed.TotalMilliseconds;
            autograd.grad([y], inputs, [upstream]);
            double fb = clock.Elapsed.TotalMilliseconds;
            if (r < 2) continue; // warm-up
            forwards.Add(f);
            both.Add(fb);
        }
        int n = Math.Max(calls, 1);
        double forwardMs = Median(forwards);
        return new ProfilePiece(name, calls, n * forwardMs, n * Math.Max(0, Median(both) - forwardMs));
    }

    /// <summary>The profile as a Markdown table: each piece's forward and backward time a step and its share of the whole.</summary>
    public static string Markdown(StepProfileResult r)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(string.Create(c,
            $"| {r.Dtype}: piece | calls a step | forward (ms) | backward (ms) | total (ms) | share of the pass |"));
        sb.AppendLine("|---|---|---|---|---|---|");
        void Row(string name, string calls, double f, double bw, double total) =>
            sb.AppendLine(string.Create(c, $"| {name} | {calls} | {f:F1} | {bw:F1} | {total:F1} | {total / r.WholeMs:P0} |"));
        foreach (var p in r.Pieces.Where(p => p.Calls > 0)) Row(p.Name, p.Calls.ToString(c), p.ForwardMs, p.BackwardMs, p.TotalMs);
        Row("the rest (views, residuals, casts, scopes, autograd)", "", 0, 0, r.GlueMs);
        Row("**whole pass: forward, loss, backward**", "1", r.WholeForwardMs, r.WholeBackwardMs, r.WholeMs);
        foreach (var p in r.Pieces.Where(p => p.Calls == 0)) Row(p.Name + " (one call)", "", p.ForwardMs, p.BackwardMs, p.TotalMs);
        foreach (var p in r.AroundThePasses) Row(p.Name, p.Calls.ToString(c), p.ForwardMs, p.BackwardMs, p.TotalMs);
        return sb.ToString();
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }
}

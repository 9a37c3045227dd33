using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Training;
using IftSharp.Training.Optimizers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Benchmarking;

/// <summary>
/// The floor the trainer's step is measured against: forward, the method's loss as bare tensor arithmetic, backward and
/// AdamW on the same model and the same batch (collated once), with nothing else — no clipping, no metrics, no loss
/// read back, no log. Under bf16 the gradient push into the float32 masters and the pull back are part of it, since
/// mixed precision cannot step without them. One dispose scope a step, as leak-free code needs. Defined for SFT, IFT
/// and DPO (the three; DPO with its reference log-probs held as precomputed constants).
/// </summary>
public sealed class RawStep : IDisposable
{
    private readonly ICausalLM _compute;
    private readonly AdamWOptimizer _optimizer;
    private readonly Bf16Shadow? _shadow;
    private readonly Batch _batch;
    private readonly Func<Tensor> _loss;
    private readonly FrozenEmbedding? _frozen;
    private readonly Tensor? _referenceMargin;

    /// <summary>The methods that have a raw step.</summary>
    public static bool Covers(string method) => method is "sft" or "ift" or "dpo";

    /// <param name="method">sft, ift or dpo (see <see cref="Covers"/>).</param>
    /// <param name="master">The float32 weights the optimizer updates.</param>
    /// <param name="computeCopy">The bf16 copy that runs the passes, or null for float32.</param>
    /// <param name="data">The method's synthetic items, all of them one batch.</param>
    public RawStep(string method, ICausalLM master, ICausalLM? computeCopy, MethodData data, double learningRate)
    {
        if (!Covers(method)) throw new ArgumentException($"no raw step for {method}", nameof(method));
        _compute = computeCopy ?? master;
        if (computeCopy is not null) _shadow = new Bf16Shadow((nn.Module)master, (nn.Module)computeCopy);
        var parameters = ((nn.Module)master).parameters().Where(p => p.requires_grad).ToList();
        _optimizer = new AdamWOptimizer(parameters, learningRate);
        var rows = data switch
        {
            MethodData<TrainingExample> single => single.Items.ToList(),
            MethodData<PreferenceExample> pairs => SequenceScores.SlotMajor(pairs.Items, PairedForward.Sequences),
            _ => throw new ArgumentException($"no raw step for {data.Noun}", nameof(data)),
        };
        _batch = Batch.Collate(rows, padId: 0);
        _batch = new Batch(_batch.InputIds.DetachFromDisposeScope(), _batch.Labels.DetachFromDisposeScope(),
            _batch.AttentionMask.DetachFromDisposeScope(), _batch.Tokens);
        switch (method)
        {
            case "sft":
                _loss = SftLoss;
                break;
            case "ift":
                _frozen = new FrozenEmbedding(_compute);
                _loss = IftLoss;
                break;
            default:
                // The reference's log-ratio, chosen minus rejected, as a precomputed table gives it: the start's own.
                using (no_grad())
                using (NewDisposeScope())
                    _referenceMargin = PairMargin(SequenceScores.Of(_compute, _batch)).DetachFromDisposeScope();
                _loss = DpoLoss;
                break;
        }
    }

    /// <summary>One optimizer step.</summary>
    public void Run()
    {
        using var scope = NewDisposeScope();
        _optimizer.zero_grad();
        _loss().backward();
        _shadow?.PushGradients();
        _optimizer.step();
        _shadow?.PullWeights();
    }

    /// <summary>The loss the next step would take, without gradient (what the tests compare with the trainer's first loss).</summary>
    public double Loss()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return _loss().to_type(ScalarType.Float64).item<double>();
    }

    private Tensor SftLoss()
    {
        var scores = SequenceScores.Of(_compute, _batch);
        return -(scores.Logps * scores.Mask).sum() / scores.Mask.sum();
    }

    private Tensor IftLoss()
    {
        var defaults = new IftOptions();
        var (logps, mask, _) = IftForward.FusedPass(_compute, _batch.InputIds, _batch.Labels, _batch.AttentionMask, defaults.Lambda,
            trainFusionEmbedding: false, _frozen);
        var n = mask.sum(1);
        var nll = -(logps * mask);
        return ((nll * Ift.Weights(nll, mask, n, defaults)).sum(1) / n).mean();
    }

    private Tensor DpoLoss()
    {
        double beta = new DpoOptions().Beta;
        var logits = (PairMargin(SequenceScores.Of(_compute, _batch)) - _referenceMargin!).Times(beta);
        return -nn.functional.logsigmoid(logits).mean();
    }

    /// <summary>Summed log-probs of the chosen rows minus the rejected ones (the batch is slot-major, chosen first).</summary>
    private static Tensor PairMargin(TokenScores scores)
    {
        long pairs = scores.Logps.shape[0] / 2;
        return scores.Slot(0, (int)pairs).Sum - scores.Slot(1, (int)pairs).Sum;
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _referenceMargin?.Dispose();
        _batch.InputIds.Dispose();
        _batch.Labels.Dispose();
        _batch.AttentionMask.Dispose();
    }
}

using IftSharp.Data;
using IftSharp.Objectives;
using IftSharp.Training;
using static TorchSharp.torch;

namespace IftSharp.Methods;

/// <summary>IFT's fused pass as a method sees it: the second pass's token scores and the first pass's mean NLL.</summary>
public sealed record FusedScores(TokenScores Scores, double FirstPassNll);

/// <summary>
/// What a single-target objective can ask of its batch: the token scores of the plain forward pass, or those of IFT's
/// second pass on the fused input. Each is computed only when asked. Frozen Lake supplies its own.
/// </summary>
public sealed class TargetScores(Func<TokenScores> plain, Func<double, bool, FusedScores> fused)
{
    public TokenScores Plain() => plain();

    /// <summary>The pass on (1−λ)·E(s*) + λ·E(ŝ); <paramref name="trainFusionEmbedding"/> embeds with the trainable embedding.</summary>
    public FusedScores Fused(double lambda, bool trainFusionEmbedding) => fused(lambda, trainFusionEmbedding);
}

/// <summary>A single-target method's objective, without its types (for callers that iterate the registry).</summary>
public interface ISingleTargetObjective
{
    ObjectiveResult Loss(TargetScores scores, object options);
}

/// <summary>Methods that learn one target per prompt (SFT, IFT): conversations, prompt-completion or text rows.</summary>
public abstract class SingleTargetMethod<TOptions>(string name, string displayName, string help, TOptions defaults)
    : TrainingMethod<TOptions>(name, displayName, help, defaults), ISingleTargetObjective where TOptions : class
{
    public override DataShape Shape => DataShape.SingleTarget;
    public override bool NeedsReference => false;

    /// <summary>The method's loss on a batch's scores: a pure function of log-probs and masks.</summary>
    public abstract ObjectiveResult Loss(TargetScores scores, TOptions options);

    public ObjectiveResult Loss(TargetScores scores, object options) => Loss(scores, Typed(options));

    public override MethodData Read(string path, DataRequest request) => new MethodData<TrainingExample>(
        ConversationDataset.ReadExamples(path, request.Tokenizer, request.Template, request.ReadOptions), "examples");

    public override MethodData Synthetic(SyntheticRequest r)
    {
        var rng = new Random((int)r.Seed);
        return MethodData.Of(Enumerable.Range(0, r.Items).Select(_ => SyntheticData.Example(rng, r)).ToList());
    }

    protected override IReadOnlyList<StepMetrics> Train(TrainingSession session, MethodData train, MethodData? eval, TOptions options)
    {
        var data = Items<TrainingExample>(train);
        var model = session.Compute;
        var chunk = session.LogitsChunk;
        var frozen = new FrozenEmbedding(model); // IFT's no-gradient view of the input embedding
        (ObjectiveResult, long) BatchLoss(IReadOnlyList<TrainingExample> examples)
        {
            var batch = Batch.Collate(examples, session.PadId);
            var scores = new TargetScores(
                () => SequenceScores.Of(model, batch, chunk: chunk),
                (lambda, trainEmbedding) =>
                {
                    var (logps, mask, firstPass) = IftForward.FusedPass(
                        model, batch.InputIds, batch.Labels, batch.AttentionMask, lambda, trainEmbedding, frozen, chunk);
                    return new FusedScores(new TokenScores(logps, mask), firstPass);
                });
            return (Loss(scores, options), batch.Tokens);
        }
        var objective = new LoopObjective<TrainingExample>
        {
            Loss = BatchLoss,
            Length = e => e.Length,
            RoundData = _ => data,
            Evaluate = eval is null ? null : Trainer.MeanLoss(Items<TrainingExample>(eval), session.Options.BatchSize, BatchLoss),
        };
        return Trainer.Run(session, Name, objective);
    }
}

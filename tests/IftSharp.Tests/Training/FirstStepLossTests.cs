using System.Text.Json;
using IftSharp.Models;
using IftSharp.Objectives;
using IftSharp.Tests.Support;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Training;

/// <summary>
/// Every method's first-step loss on a real checkpoint (the tiny Llama-3-style fixture) equals an independent float64
/// PyTorch computation on the same weights and batch (Fixtures/tools/make_method_fixtures.py): model, log-prob gathering,
/// padding, IFT's two passes and each objective together.
/// </summary>
public class FirstStepLossTests
{
    private static readonly JsonElement Golden = Fixture.Json("methods", "first_step.json");

    [Fact]
    public void EveryMethodMatchesPyTorchOnTheSameWeights()
    {
        using var scope = NewDisposeScope();
        using var model = LlamaForCausalLM.FromPretrained(Fixture.PathOf("models", "tiny-llama3"), ScalarType.Float64);
        var ids = Fixture.Long(Golden.GetProperty("input_ids"));
        var mask = Fixture.Long(Golden.GetProperty("attention_mask"));
        var labels = Fixture.Long(Golden.GetProperty("labels"));
        const double tol = 1e-6; // the two float64 forwards differ by rounding only (about 4e-9 relative)

        var (logps, m) = TokenLogProbs.Gather(model.Forward(ids, mask), labels);
        Assert.Equal(Golden.GetProperty("sft").GetDouble(), Sft.Loss(logps, m).Loss.item<double>(), tol);

        var frozen = new FrozenEmbedding(model);
        var (idsHat, _) = IftForward.OneStepAhead(model, ids, labels, mask, frozen.Embed);
        Assert.Equal(Fixture.Long(Golden.GetProperty("ift_ids_hat")).data<long>().ToArray(), idsHat.data<long>().ToArray());
        var ift = IftForward.Loss(model, ids, labels, mask, new IftOptions(), frozen).Loss.item<double>();
        Assert.Equal(Golden.GetProperty("ift").GetDouble(), ift, tol);

        var chosen = SequenceLogps.From(logps.narrow(0, 0, 2), m.narrow(0, 0, 2));
        var rejected = SequenceLogps.From(logps.narrow(0, 2, 2), m.narrow(0, 2, 2));
        var refSums = Fixture.Tensor(Golden.GetProperty("reference_sums"));
        var refChosen = new SequenceLogps(refSums.narrow(0, 0, 2), chosen.Length);
        var refRejected = new SequenceLogps(refSums.narrow(0, 2, 2), rejected.Length);
        Assert.Equal(Golden.GetProperty("dpo").GetDouble(),
            Dpo.Loss(chosen, rejected, refChosen, refRejected, new DpoOptions()).Loss.item<double>(), tol);
        Assert.Equal(Golden.GetProperty("ipo").GetDouble(),
            Dpo.Loss(chosen, rejected, refChosen, refRejected, new DpoOptions { LossType = DpoLossType.Ipo }).Loss.item<double>(),
            1e-6);
        var orpo = Orpo.Loss(chosen, rejected, Sft.Loss(logps.narrow(0, 0, 2), m.narrow(0, 0, 2)).Loss, new OrpoOptions())
            .Loss.item<double>();
        Assert.Equal(Golden.GetProperty("orpo").GetDouble(), orpo, tol);
        Assert.Equal(Golden.GetProperty("simpo").GetDouble(), SimPo.Loss(chosen, rejected, new SimPoOptions()).Loss.item<double>(), tol);
        Assert.Equal(Golden.GetProperty("exo").GetDouble(),
            Exo.PairLoss(chosen, rejected, refChosen, refRejected, new ExoOptions()).Loss.item<double>(), tol);
    }
}

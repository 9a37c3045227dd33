using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Objectives;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Models;

/// <summary>LoRA's behaviour on a model: PEFT's initialisation, freezing, enabling and disabling, dropout, merging, gradients.</summary>
public class LoraAdapterTests
{
    private static LlamaForCausalLM Model(ScalarType dtype = ScalarType.Float64) =>
        TinyModels.GradientLlama(tied: false, seed: 4, dtype);

    private static Tensor Ids() => randint(3, 97, new long[] { 2, 6 }, generator: new torch.Generator(5));

    /// <summary>B drawn at random, as after training (a fresh adapter's B is zero and changes nothing).</summary>
    private static void Train(LoraAdapter adapter, ulong seed = 6)
    {
        using var _ = no_grad();
        using var generator = new torch.Generator(seed);
        foreach (var (_, lora) in adapter.Modules) lora.B.copy_(randn(lora.B.shape, lora.B.dtype, generator: generator).Times(0.5));
    }

    [Fact]
    public void ANewAdapterIsInitialisedAsPeftDoesAndChangesNothing()
    {
        using var scope = NewDisposeScope();
        using var model = Model();
        var ids = Ids();
        Tensor before;
        using (no_grad()) before = model.Forward(ids);
        var keys = model.state_dict().Keys.ToList();
        var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 4 }, seed: 1);
        Assert.Equal(14, adapter.Modules.Count); // 7 projections × 2 layers
        Assert.Equal(8.0, adapter.Config.LoraAlpha);
        foreach (var (path, lora) in adapter.Modules)
        {
            long fanIn = lora.A.shape[1];
            double bound = 1 / Math.Sqrt(fanIn);
            Assert.Equal(4, lora.Rank);
            Assert.True(lora.A.abs().max().item<double>() <= bound, $"{path}: A within ±1/√in (Kaiming-uniform, a = √5)");
            Assert.Equal(0.0, lora.B.abs().max().item<double>());
            Assert.Equal(ScalarType.Float64, lora.A.dtype);
        }
        var all = cat(adapter.Modules.Select(m => (m.Adapter.A * Math.Sqrt(m.Adapter.A.shape[1])).reshape(-1)).ToArray());
        Assert.InRange(all.std().item<double>(), 0.54, 0.62); // U(−1, 1) has std 1/√3 ≈ 0.577
        using (no_grad()) Assert.True(before.eq(model.Forward(ids)).all().item<bool>(), "B = 0: the outputs are the base model's");
        Assert.Equal(keys, model.state_dict().Keys.ToList()); // the adapter stays out of the model's state dict
        Assert.All(model.parameters(), p => Assert.False(p.requires_grad));
        Assert.All(adapter.parameters(), p => Assert.True(p.requires_grad));
        long expected = adapter.Modules.Sum(m => 4 * (m.Adapter.A.shape[1] + m.Adapter.B.shape[0]));
        Assert.Equal(expected, adapter.ParameterCount);

        using var other = Model();
        var same = LoraAdapter.Inject(other, new LoraConfig { R = 4 }, seed: 1);
        Assert.True(same.Modules[5].Adapter.A.eq(adapter.Modules[5].Adapter.A).all().item<bool>(), "the same seed draws the same A");
        using var third = Model();
        var different = LoraAdapter.Inject(third, new LoraConfig { R = 4 }, seed: 2);
        Assert.False(different.Modules[5].Adapter.A.eq(adapter.Modules[5].Adapter.A).all().item<bool>());
    }

    [Fact]
    public void DisablingGivesTheBaseModelAndDetachingRestoresIt()
    {
        using var scope = NewDisposeScope();
        using var model = Model();
        var ids = Ids();
        Tensor baseLogits;
        using (no_grad()) baseLogits = model.Forward(ids);
        var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 2, TargetModules = ["q_proj", "down_proj"] }, seed: 1);
        Assert.Equal(4, adapter.Modules.Count);
        Train(adapter);
        using var _ = no_grad();
        var adapted = model.Forward(ids);
        Assert.True((adapted - baseLogits).abs().max().item<double>() > 1e-3);
        using (adapter.Disabled())
        {
            Assert.False(adapter.Enabled);
            Assert.True(baseLogits.eq(model.Forward(ids)).all().item<bool>(), "disabled: exactly the base model");
        }
        Assert.True(adapted.eq(model.Forward(ids)).all().item<bool>());
        adapter.Detach();
        Assert.Null(model.Lora);
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
        Assert.True(baseLogits.eq(model.Forward(ids)).all().item<bool>());
    }

    [Fact]
    public void MergingComputesWhatTheAdapterComputed()
    {
        using var scope = NewDisposeScope();
        using var model = Model();
        var ids = Ids();
        var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 3, Alpha = 5, UseRslora = true }, seed: 1);
        Assert.Equal(5 / Math.Sqrt(3), adapter.Modules[0].Adapter.Scaling, 15);
        Train(adapter);
        Tensor adapted;
        using (no_grad()) adapted = model.Forward(ids);
        adapter.MergeIntoBase();
        Assert.Null(model.Lora);
        Tensor merged;
        using (no_grad()) merged = model.Forward(ids);
        Assert.True((adapted - merged).abs().max().item<double>() <= 1e-10 * adapted.abs().max().item<double>());
        Assert.Throws<InvalidOperationException>(adapter.MergeIntoBase);
        adapter.Dispose();
    }

    [Fact]
    public void OnlyTheAdapterTakesGradientsAndTheyMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        using var model = Model();
        var ids = Ids();
        var labels = ids.clone();
        var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 2 }, seed: 1);
        Train(adapter);
        double Loss()
        {
            var (logps, mask) = TokenLogProbs.FromModel(model, ids, null, labels);
            return Sft.Loss(logps, mask).Loss.item<double>();
        }
        var (lp, m) = TokenLogProbs.FromModel(model, ids, null, labels);
        Sft.Loss(lp, m).Loss.backward();
        Assert.All(model.parameters(), p => Assert.Null(p.grad));
        var checks = new[] { (adapter.Modules[0].Adapter.A, new long[] { 1, 7 }), (adapter.Modules[6].Adapter.B, new long[] { 3, 0 }),
            (adapter.Modules[10].Adapter.A, new long[] { 0, 2 }), (adapter.Modules[13].Adapter.B, new long[] { 20, 1 }) };
        using var _ = no_grad();
        foreach (var (leaf, index) in checks)
        {
            var at = index.Select(i => TensorIndex.Single(i)).ToArray();
            double analytic = leaf.grad![at].item<double>(), h = 1e-6;
            var element = leaf[at];
            double original = element.item<double>();
            element.FillInPlace(original + h);
            double plus = Loss();
            element.FillInPlace(original - h);
            double minus = Loss();
            element.FillInPlace(original);
            double numeric = (plus - minus) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic) <= 1e-7 * Math.Max(1, Math.Abs(numeric)), $"numeric {numeric}, analytic {analytic}");
            Assert.True(Math.Abs(analytic) > 1e-6, "a vanishing gradient would make this check vacuous");
        }
    }

    [Fact]
    public void DropoutAppliesToTheAdapterInputInTrainingModeOnly()
    {
        using var scope = NewDisposeScope();
        using var model = Model();
        var ids = Ids();
        var adapter = LoraAdapter.Inject(model, new LoraConfig { R = 2, Dropout = 0.5 }, seed: 1);
        using var _ = no_grad();
        Tensor before = model.Forward(ids);
        Train(adapter);
        model.eval();
        var evaluated = model.Forward(ids);
        Assert.True(evaluated.eq(model.Forward(ids)).all().item<bool>(), "no dropout in eval mode");
        model.train();
        var first = model.Forward(ids);
        Assert.False(first.eq(model.Forward(ids)).all().item<bool>(), "dropout draws new masks in training mode");
        using (adapter.Disabled()) Assert.True(before.eq(model.Forward(ids)).all().item<bool>(), "the base path has no dropout");
        // Dropout acts on x before A only: with A·x dropped to zero everywhere the update vanishes.
        var lora = adapter.Modules[0].Adapter;
        var x = randn(new long[] { 3, 32 }, ScalarType.Float64, generator: new torch.Generator(1));
        var expected = lora.B.matmul(lora.A.matmul(x.t())).t().Times(lora.Scaling);
        Assert.True(lora.Delta(x, training: false).allclose(expected, rtol: 1e-12, atol: 1e-14)); // two matmul orders: rounding only
    }

    [Fact]
    public void ARegularExpressionTargetsWholeModulePaths()
    {
        using var model = Model();
        var config = new LoraConfig { R = 2, TargetPattern = @"model\.layers\.1\.self_attn\.(q|v)_proj" };
        var adapter = LoraAdapter.Inject(model, config, seed: 1);
        Assert.Equal(["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"], adapter.Modules.Select(m => m.Path));
        Assert.Throws<InvalidOperationException>(() => LoraAdapter.Inject(model, new LoraConfig(), seed: 1));
    }

    [Fact]
    public void BadSettingsAreInputErrorsNamingTheProblem()
    {
        Assert.Contains("lm_head", Assert.Throws<InputException>(() => LoraConfig.FromOptions(8, targets: "q_proj,lm_head")).Message);
        Assert.Contains("r must be", Assert.Throws<InputException>(() => LoraConfig.FromOptions(0)).Message);
        Assert.Contains("lora_dropout", Assert.Throws<InputException>(() => LoraConfig.FromOptions(8, dropout: 1)).Message);
        Assert.Contains("lora_alpha", Assert.Throws<InputException>(() => LoraConfig.FromOptions(8, alpha: -1)).Message);
        using var model = Model();
        var e = Assert.Throws<InputException>(() => LoraAdapter.Inject(model, new LoraConfig { TargetModules = ["embed_tokens"] }));
        Assert.Contains("match no projection", e.Message);
        Assert.Null(model.Lora);
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
    }

    [Theory]
    [InlineData("\"peft_type\": \"PREFIX_TUNING\"", "peft_type")]
    [InlineData("\"use_dora\": true", "use_dora")]
    [InlineData("\"bias\": \"all\"", "bias")]
    [InlineData("\"rank_pattern\": {\"q_proj\": 8}", "rank_pattern")]
    [InlineData("\"modules_to_save\": [\"lm_head\"]", "modules_to_save")]
    [InlineData("\"r\": \"four\"", "'r'")]
    public void UnsupportedAdapterConfigsAreRejected(string field, string named)
    {
        var dir = TinyModels.TempDirectory();
        try
        {
            var key = field[..(field.IndexOf(':'))];
            var lines = File.ReadAllLines(Path.Combine(TinyModels.FixtureDirectory("tiny-llama3-lora"), PeftAdapter.ConfigFileName))
                .Select(l => !l.TrimStart().StartsWith(key, StringComparison.Ordinal) ? l
                    : "  " + field + (l.TrimEnd().EndsWith(',') ? "," : ""));
            File.WriteAllLines(Path.Combine(dir, PeftAdapter.ConfigFileName), lines);
            var e = Assert.Throws<InputException>(() => PeftAdapter.ReadConfig(dir));
            Assert.Contains(named, e.Message);
            Assert.Contains(PeftAdapter.ConfigFileName, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void WeightsThatDoNotMatchTheConfigAreRejected()
    {
        var dir = TinyModels.TempDirectory();
        try
        {
            var fixture = TinyModels.FixtureDirectory("tiny-llama3-lora");
            // The config says every projection, r 4; these weights cover q_proj only, with r 2.
            File.Copy(Path.Combine(fixture, PeftAdapter.ConfigFileName), Path.Combine(dir, PeftAdapter.ConfigFileName));
            using (var scope = NewDisposeScope())
            {
                var only = new Dictionary<string, Tensor>
                {
                    ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = zeros(2, 48),
                    ["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"] = zeros(48, 2),
                };
                SafetensorsCheckpoint.WriteFile(Path.Combine(dir, PeftAdapter.WeightsFileName), only);
            }
            using var model = LlamaForCausalLM.FromPretrained(TinyModels.FixtureDirectory("tiny-llama3"));
            var e = Assert.Throws<InputException>(() => PeftAdapter.Load(model, dir));
            Assert.Contains("missing keys: base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", e.Message);
            Assert.Contains("(+18 more)", e.Message); // 28 expected, 2 present
            Assert.Null(model.Lora);
            Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
        }
        finally { Directory.Delete(dir, true); }
    }
}

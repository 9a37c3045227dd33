using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Objectives;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using IftSharp.Training;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Methods;

/// <summary>
/// Every registered method, through <see cref="TrainingRun"/> as <c>iftsharp train</c> runs it, on a tiny model folder
/// and a small dataset of the method's shape: one step changes every trainable parameter, and an interrupted run
/// resumed from its checkpoint gives the same per-step losses as an uninterrupted one (across SPIN's rounds too).
/// </summary>
public class EveryMethodTests
{
    public static IEnumerable<object[]> Names() => MethodRegistry.Names.Select(n => new object[] { n });

    /// <summary>Settings that keep the tiny runs short: SPIN's rounds must fit the steps, its answers a few tokens.</summary>
    private static Dictionary<string, string> Settings(string method, int rounds) =>
        method == "spin" ? new() { ["spin-rounds"] = rounds.ToString(), ["spin-max-new-tokens"] = "6" } : [];

    private static readonly (string Prompt, string Good, string Bad)[] Rows =
        [("Reverse cat", "tac", "cat"), ("Reverse dog", "god", "dgo"), ("Reverse sun", "nus", "sun"), ("Reverse owl", "lwo", "owl")];

    /// <summary>A small dataset in the shape the method reads, in TRL's conversational form.</summary>
    private static string Dataset(DataShape shape, string dir)
    {
        static string U(string s) => $"[{{\"role\": \"user\", \"content\": \"{s}\"}}]";
        static string A(string s) => $"[{{\"role\": \"assistant\", \"content\": \"{s}\"}}]";
        IEnumerable<string> lines = shape switch
        {
            DataShape.SingleTarget or DataShape.SelfGenerated => Rows.Select(r =>
                $"{{\"messages\": [{{\"role\": \"user\", \"content\": \"{r.Prompt}\"}}, "
                + $"{{\"role\": \"assistant\", \"content\": \"{r.Good}\"}}]}}"),
            DataShape.PreferencePairs => Rows.Select(r =>
                $"{{\"prompt\": {U(r.Prompt)}, \"chosen\": {A(r.Good)}, \"rejected\": {A(r.Bad)}}}"),
            DataShape.UnpairedLabelled => Rows.SelectMany(r => new[]
            {
                $"{{\"prompt\": {U(r.Prompt)}, \"completion\": {A(r.Good)}, \"label\": true}}",
                $"{{\"prompt\": {U(r.Prompt)}, \"completion\": {A(r.Bad)}, \"label\": false}}",
            }),
            DataShape.RewardGroups => Rows.Select(r =>
                $"{{\"prompt\": \"{r.Prompt}\", \"completions\": [\"{r.Good}\", \"{r.Bad}\"], \"rewards\": [1.0, 0.0]}}"),
            _ => throw new ArgumentOutOfRangeException(nameof(shape)),
        };
        var path = Path.Combine(dir, "data.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static string ModelFolder(string dir)
    {
        var path = Path.Combine(dir, "start");
        using var model = TinyLlama.Create();
        model.SavePretrained(path);
        new ByteLevelTokenizer().Save(path);
        return path;
    }

    private static TrainingRunOptions Options(string method, string model, string data, string output, int steps, int rounds) => new()
    {
        Method = method, Model = model, Dataset = data, Output = output, MaxLength = 64,
        MethodOptions = MethodRegistry.Options(MethodRegistry.Get(method), Settings(method, rounds)),
        Trainer = new TrainerOptions { MaxSteps = steps, BatchSize = 2, LearningRate = 1e-2, WarmupRatio = 0, Seed = 5, SaveSteps = 1 },
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void OneStepChangesEveryTrainableParameter(string name)
    {
        var dir = Temp.Directory("method-step");
        try
        {
            var model = ModelFolder(dir);
            var data = Dataset(MethodRegistry.Get(name).Shape, dir);
            var result = TrainingRun.Run(Options(name, model, data, Path.Combine(dir, "out"), steps: 1, rounds: 1));
            Assert.Single(result.History);
            Assert.True(double.IsFinite(result.History[0].Loss));
            using var before = LlamaForCausalLM.FromPretrained(model);
            using var after = LlamaForCausalLM.FromPretrained(result.Output);
            var trained = after.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (p, start) in before.named_parameters())
                Assert.False(start.eq(trained[p]).all().item<bool>(), $"{name}: {p} did not change");
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void AnInterruptedRunResumesExactly(string name)
    {
        var dir = Temp.Directory("method-resume");
        try
        {
            var model = ModelFolder(dir);
            var data = Dataset(MethodRegistry.Get(name).Shape, dir);
            var straight = TrainingRun.Run(Options(name, model, data, Path.Combine(dir, "straight"), steps: 4, rounds: 2))
                .History
                .Select(m => m.Loss);

            var output = Path.Combine(dir, "interrupted");
            using var cancel = new CancellationTokenSource();
            var first = TrainingRun.Run(Options(name, model, data, output, steps: 4, rounds: 2),
                new TrainingRunCallbacks { Cancel = cancel.Token, OnStep = m => { if (m.Step == 3) cancel.Cancel(); } });
            Assert.True(first.Interrupted);
            Assert.Equal(3, first.History.Count);
            var rest = TrainingRun.Run(Options(name, model, data, output, steps: 4, rounds: 2) with
            {
                Trainer = Options(name, model, data, output, 4, 2).Trainer with { Resume = true },
            });
            Assert.Equal(straight, first.History.Concat(rest.History).Select(m => m.Loss));
            if (name == "spin") Assert.Equal(2, Directory.GetFiles(output, "spin-round-*.jsonl").Length);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// One LoRA step of every method through <see cref="TrainingRun"/>: only the adapter trains (every B leaves zero; A
    /// gets no gradient while B is zero), the base weights stay bit-identical to the start folder's, the reference is the
    /// policy itself with the adapter off (no second set of weights), and the output folder is a PEFT adapter folder.
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void OneLoraStepTrainsTheAdapterOnlyAgainstTheSameWeights(string name)
    {
        var dir = Temp.Directory("method-lora");
        try
        {
            var model = ModelFolder(dir);
            var method = MethodRegistry.Get(name);
            var data = Dataset(method.Shape, dir);
            using var start = LlamaForCausalLM.FromPretrained(model);
            var startWeights = start.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            int checkedSteps = 0;
            TrainingSession? session = null;
            var callbacks = new TrainingRunCallbacks
            {
                OnSession = s =>
                {
                    session = s;
                    var policy = Assert.IsType<LlamaForCausalLM>(s.Model);
                    var lora = Assert.IsType<LoraAdapter>(policy.Lora);
                    Assert.Null(s.ComputeCopy);
                    Assert.Equal(lora.parameters().Select(p => p.Handle), s.TrainableParameters.Select(p => p.Handle));
                    if (method.NeedsReference)
                    {
                        // The reference reads the policy's own parameter tensors: one set of weights is loaded.
                        var reference = Assert.IsType<AdapterOffModel>(s.Reference);
                        Assert.Same(policy, reference.Model);
                        Assert.Equal(policy.parameters().Select(p => p.Handle), reference.parameters().Select(p => p.Handle));
                    }
                    else Assert.Null(s.Reference);
                },
                OnStep = _ =>
                {
                    foreach (var (p, weight) in ((LlamaForCausalLM)session!.Model).named_parameters())
                        Assert.True(weight.eq(startWeights[p]).all().item<bool>(), $"{name}: base weight {p} changed");
                    checkedSteps++;
                },
            };
            var output = Path.Combine(dir, "out");
            var result = TrainingRun.Run(Options(name, model, data, output, steps: 1, rounds: 1) with { LoraR = 4 }, callbacks);
            Assert.Equal(1, checkedSteps);
            Assert.True(double.IsFinite(result.History[0].Loss));
            Assert.True(File.Exists(Path.Combine(output, PeftAdapter.ConfigFileName)));
            Assert.False(File.Exists(Path.Combine(output, "model.safetensors")));
            using var reloaded = LlamaForCausalLM.FromPretrained(model);
            var adapter = PeftAdapter.Load(reloaded, output, trainable: false);
            Assert.Equal(7, adapter.Modules.Count); // all-linear on one layer
            foreach (var (path, l) in adapter.Modules)
                Assert.True(l.B.abs().sum().item<float>() > 0, $"{name}: {path}'s lora_B did not change");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// <c>--logits-chunk</c> reaches every pass of every method (policy, reference, IFT's both, SPIN's opponent): no
    /// full [B, T, V] logits are gathered, and the step's loss is the unchunked one up to summation order.
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void WithALogitsChunkNoPassMaterialisesTheFullLogits(string name)
    {
        var dir = Temp.Directory("method-chunk");
        try
        {
            var model = ModelFolder(dir);
            var data = Dataset(MethodRegistry.Get(name).Shape, dir);
            long before = TokenLogProbs.FullLogitsGathers;
            var whole = TrainingRun.Run(Options(name, model, data, Path.Combine(dir, "whole"), steps: 1, rounds: 1));
            Assert.True(TokenLogProbs.FullLogitsGathers > before); // the counter sees the unchunked passes
            before = TokenLogProbs.FullLogitsGathers;
            var chunked = TrainingRun.Run(Options(name, model, data, Path.Combine(dir, "chunked"), steps: 1, rounds: 1)
                with
            { LogitsChunk = 5 });
            Assert.Equal(before, TokenLogProbs.FullLogitsGathers);
            Assert.Equal(whole.History[0].Loss, chunked.History[0].Loss, 1e-5);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void EveryMethodDeclaresItsSettingsOnceWithOneTypePerFlag()
    {
        var flags = MethodRegistry.Settings(); // throws when two methods give one flag two types
        Assert.Contains(flags, f => f.Setting.Name == "beta" && f.Methods.Count > 3);
        foreach (var method in MethodRegistry.All)
        {
            Assert.Matches("^[a-z][a-z0-9-]*$", method.Name);
            Assert.False(string.IsNullOrWhiteSpace(method.Help));
            Assert.DoesNotContain(MethodRegistry.SettingsOf(method).GroupBy(s => s.Name), g => g.Count() > 1);
            IftSharp.Core.Settings.Validate(method.Defaults); // every default is inside its own declared range
        }
        Assert.Equal(MethodRegistry.Names.Count, MethodRegistry.Names.Distinct().Count());
    }
}

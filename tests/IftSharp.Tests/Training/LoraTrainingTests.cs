using IftSharp.Methods;
using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Tests.Support;
using IftSharp.Training;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Training;

/// <summary>
/// <see cref="TrainingRun"/> with LoRA and the memory settings on a one-layer model folder: what is held (a bfloat16
/// base only, float32 adapter state), what checkpoints and the final folder hold, exact resume, and the reference
/// without LoRA (precomputed and freed, or held in bfloat16).
/// </summary>
public class LoraTrainingTests
{
    private static readonly (string Prompt, string Good, string Bad)[] Rows =
        [("Reverse cat", "tac", "cat"), ("Reverse dog", "god", "dgo"), ("Reverse sun", "nus", "sun"), ("Reverse owl", "lwo", "owl")];

    private static string Data(string method, string dir)
    {
        static string U(string s) => $"[{{\"role\": \"user\", \"content\": \"{s}\"}}]";
        static string A(string s) => $"[{{\"role\": \"assistant\", \"content\": \"{s}\"}}]";
        var lines = MethodRegistry.Get(method).Shape == DataShape.PreferencePairs
            ? Rows.Select(r => $"{{\"prompt\": {U(r.Prompt)}, \"chosen\": {A(r.Good)}, \"rejected\": {A(r.Bad)}}}")
            : Rows.Select(r => $"{{\"messages\": [{U(r.Prompt)[1..^1]}, {A(r.Good)[1..^1]}]}}");
        var path = Path.Combine(dir, method + ".jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static TrainingRunOptions Options(string method, string dir, string output, int steps, int saveSteps = 1) => new()
    {
        Method = method, Model = Path.Combine(dir, "start"), Dataset = Data(method, dir), Output = Path.Combine(dir, output),
        MaxLength = 64,
        Trainer = new TrainerOptions
        {
            MaxSteps = steps, BatchSize = 2, LearningRate = 1e-2, WarmupRatio = 0, Seed = 3, SaveSteps = saveSteps,
        },
    };

    private static string Setup(string prefix)
    {
        var dir = Temp.Directory(prefix);
        CliRun.TinyModelFolder(Path.Combine(dir, "start"));
        return dir;
    }

    [Theory]
    [InlineData("ift")]
    [InlineData("dpo")]
    public void WithBf16TheFrozenBaseIsHeldInBfloat16OnlyAndTheAdapterStateInFloat32(string method)
    {
        var dir = Setup("lora-bf16");
        try
        {
            var o = Options(method, dir, "out", steps: 2, saveSteps: 0) with
            {
                LoraR = 4,
                Bf16 = true,
                GradientCheckpointing = true,
                LogitsChunk = 7,
                SaveFinalOptimizer = true,
            };
            var result = TrainingRun.Run(o, new TrainingRunCallbacks
            {
                OnSession = s =>
                {
                    var policy = Assert.IsType<LlamaForCausalLM>(s.Model);
                    Assert.Null(s.ComputeCopy); // no second, float32 or bf16, copy of the model
                    Assert.True(policy.GradientCheckpointing);
                    Assert.All(policy.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
                    Assert.All(policy.parameters(), p => Assert.False(p.requires_grad));
                    Assert.All(s.TrainableParameters, p => Assert.Equal(ScalarType.Float32, p.dtype));
                },
            });
            Assert.All(result.History, m => Assert.True(double.IsFinite(m.Loss) && m.GradNorm > 0));
            // --save-steps 0: no checkpoint; the final folder is the adapter and, asked for, its optimizer state alone:
            // AdamW's two moments of the adapter's weights, far less than the base model's own weights.
            Assert.Empty(TrainingCheckpoint.List(o.Output!));
            var optimizerBytes = new FileInfo(Path.Combine(o.Output!, TrainingCheckpoint.OptimizerFile)).Length;
            var adapterBytes = new FileInfo(Path.Combine(o.Output!, PeftAdapter.WeightsFileName)).Length;
            var baseBytes = new FileInfo(Path.Combine(dir, "start", "model.safetensors")).Length;
            Assert.InRange(optimizerBytes, adapterBytes, 3 * adapterBytes);
            Assert.True(3 * adapterBytes < baseBytes, $"adapter {adapterBytes} bytes, base {baseBytes}");
            Assert.False(File.Exists(Path.Combine(o.Output!, "model.safetensors")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("ift", false)]
    [InlineData("dpo", true)]
    public void ALoraRunResumesExactlyFromCheckpointsThatHoldTheAdapterOnly(string method, bool bf16)
    {
        var dir = Setup("lora-resume");
        try
        {
            TrainingRunOptions Run(string output) => Options(method, dir, output, steps: 4, saveSteps: 2) with { LoraR = 4, Bf16 = bf16 };
            var straight = TrainingRun.Run(Run("straight")).History.Select(m => m.Loss).ToList();

            var interrupted = Run("interrupted");
            using var cancel = new CancellationTokenSource();
            var first = TrainingRun.Run(interrupted, new TrainingRunCallbacks
            {
                Cancel = cancel.Token, OnStep = m => { if (m.Step == 3) cancel.Cancel(); },
            });
            Assert.True(first.Interrupted);
            Assert.Equal([2, 3], TrainingCheckpoint.List(interrupted.Output!).Select(c => c.Step));
            var files = Directory.GetFiles(Path.Combine(interrupted.Output!, "checkpoint-3")).Select(Path.GetFileName).Order().ToList();
            Assert.Equal(new[]
            {
                PeftAdapter.ConfigFileName, PeftAdapter.WeightsFileName, TrainingCheckpoint.OptimizerFile, "tokenizer.json",
                "tokenizer_config.json", TrainingCheckpoint.StateFile,
            }.Order(), files);

            var rest = TrainingRun.Run(interrupted with { Trainer = interrupted.Trainer with { Resume = true } });
            Assert.Equal(straight, first.History.Concat(rest.History).Select(m => m.Loss));
            // The final folder is an adapter folder for the base; no optimizer state unless asked for.
            Assert.True(PeftAdapter.IsAdapterFolder(interrupted.Output!));
            Assert.False(File.Exists(Path.Combine(interrupted.Output!, TrainingCheckpoint.OptimizerFile)));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ContinuingAnAdapterStartsFromItsWeightsAndSettings()
    {
        var dir = Setup("lora-continue");
        try
        {
            var first = Options("sft", dir, "first", steps: 2, saveSteps: 0) with
            {
                LoraR = 2,
                LoraAlpha = 3,
                LoraTargetModules = "q_proj,v_proj",
            };
            TrainingRun.Run(first);
            var second = Options("sft", dir, "second", steps: 1, saveSteps: 0) with { Adapter = first.Output };
            double? startLoss = null;
            TrainingRun.Run(second, new TrainingRunCallbacks
            {
                OnSession = s =>
                {
                    var lora = ((LlamaForCausalLM)s.Model).Lora!;
                    Assert.Equal((2, 3.0), (lora.Config.R, lora.Config.LoraAlpha));
                    Assert.Equal(["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"], lora.Modules.Select(m => m.Path));
                    // The first run's trained B, not a new adapter's zero.
                    Assert.All(lora.Modules, m => Assert.True(m.Adapter.B.abs().sum().item<float>() > 0, m.Path));
                },
                OnStep = m => startLoss = m.Loss,
            });
            Assert.NotNull(startLoss);
            Assert.Equal(File.ReadAllText(Path.Combine(first.Output!, PeftAdapter.ConfigFileName)),
                File.ReadAllText(Path.Combine(second.Output!, PeftAdapter.ConfigFileName)));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WithSaveStepsZeroTheFinalFolderIsTheModelAndTheOptimizerOnlyWhenAsked(bool saveOptimizer)
    {
        var dir = Setup("save-final");
        try
        {
            var o = Options("sft", dir, "out", steps: 2, saveSteps: 0) with { SaveFinalOptimizer = saveOptimizer };
            TrainingRun.Run(o);
            var names = Directory.GetFileSystemEntries(o.Output!).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
            string[] model = ["config.json", "metrics.jsonl", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];
            string[] expected = saveOptimizer ? [.. model, TrainingCheckpoint.OptimizerFile] : model;
            Assert.Equal(expected.Order(StringComparer.Ordinal), names);
            if (!saveOptimizer) return;
            // The state is the run's: it loads into an optimizer over the same parameters.
            using var trained = LlamaForCausalLM.FromPretrained(o.Output!);
            var optimizer = new IftSharp.Training.Optimizers.AdamWOptimizer(trained.parameters(), 1e-3);
            optimizer.load_state_dict(Path.Combine(o.Output!, TrainingCheckpoint.OptimizerFile));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void APrecomputedReferenceIsFreedBeforeTheFirstStep()
    {
        var dir = Setup("precompute-free");
        try
        {
            ICausalLM? reference = null;
            TrainingSession? session = null;
            bool checkedAtStep = false;
            TrainingRun.Run(Options("dpo", dir, "out", steps: 1, saveSteps: 0) with { PrecomputeReferenceLogps = true },
                new TrainingRunCallbacks
                {
                    OnSession = s => (session, reference) = (s, s.Reference),
                    OnStep = _ =>
                    {
                        Assert.Null(session!.Reference);
                        // Disposed: its weights' native tensors are gone.
                        Assert.All(((LlamaForCausalLM)reference!).parameters(recurse: true).Take(1), p => Assert.True(p.IsInvalid));
                        checkedAtStep = true;
                    },
                });
            Assert.True(checkedAtStep);
            Assert.IsType<LlamaForCausalLM>(reference);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ALiveReferenceCanBeHeldInBfloat16()
    {
        var dir = Setup("ref-bf16");
        try
        {
            bool seen = false;
            var result = TrainingRun.Run(Options("dpo", dir, "out", steps: 1, saveSteps: 0) with { RefDtype = ReferenceDtype.Bf16 },
                new TrainingRunCallbacks
                {
                    OnSession = s =>
                    {
                        Assert.All(s.Reference!.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
                        Assert.All(s.Model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
                        seen = true;
                    },
                });
            Assert.True(seen);
            // At the start the policy is the reference: the log-ratios are bfloat16 rounding only, and DPO's loss is near log 2.
            Assert.Equal(Math.Log(2), result.History[0].Loss, 2);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void GradientCheckpointingGivesTheSameLossesThroughTheRun()
    {
        var dir = Setup("lora-checkpointing");
        try
        {
            var o = Options("ift", dir, "plain", steps: 3, saveSteps: 0) with { LoraR = 4 };
            var plain = TrainingRun.Run(o).History.Select(m => m.Loss).ToList();
            var recomputed = TrainingRun.Run(o with { Output = Path.Combine(dir, "recomputed"), GradientCheckpointing = true })
                .History.Select(m => m.Loss).ToList();
            for (int i = 0; i < plain.Count; i++) Assert.Equal(plain[i], recomputed[i], 6);
        }
        finally { Directory.Delete(dir, true); }
    }
}

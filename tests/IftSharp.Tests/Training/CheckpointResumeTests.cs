using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using IftSharp.Training;
using Xunit;
using static TorchSharp.torch;

namespace IftSharp.Tests.Training;

public class CheckpointResumeTests
{
    private static (LlamaForCausalLM Model, List<TrainingExample> Data, int Pad) Setup() =>
        (TinyLlama.Create(), TinyLlama.ReversalExamples(5), TinyLlama.PadId);

    private static string TempDir() => Path.Combine(Path.GetTempPath(), "iftsharp-ckpt-" + Guid.NewGuid().ToString("N"));

    [Theory]
    [InlineData("ift", OptimizerKind.AdamW)]
    [InlineData("sft", OptimizerKind.RMSprop)]
    [InlineData("sft", OptimizerKind.AdamW, true)]
    public void AnInterruptedRunResumesWithBitIdenticalLosses(string method, OptimizerKind optimizer, bool groupByLength = false)
    {
        var straight = TempDir();
        var interrupted = TempDir();
        try
        {
            var options = new TrainerOptions
            {
                Optimizer = optimizer,
                MaxSteps = 8,
                BatchSize = 2,
                LearningRate = 5e-3,
                Seed = 4,
                SaveSteps = 3,
                GroupByLength = groupByLength,
            };

            var (a, data, pad) = Setup();
            var expected = Runs.Train(method, a, data, pad, options with { OutputDirectory = straight },
                    checkpoint: new PretrainedModelCheckpoint(a))
                .Select(m => m.Loss)
                .ToList();

            // Stop after step 5 as Ctrl-C would: a checkpoint is written where the run stopped.
            var (b, _, _) = Setup();
            using var cancel = new CancellationTokenSource();
            var first = Runs.Train(method, b, data, pad, options with { OutputDirectory = interrupted },
                m => { if (m.Step == 5) cancel.Cancel(); }, cancel.Token, new PretrainedModelCheckpoint(b));
            Assert.Equal(5, first.Count);
            Assert.Equal(new[] { 3, 5 }, TrainingCheckpoint.List(interrupted).Select(c => c.Step));

            // A fresh process: a new model from the same start, then --resume.
            var (c, _, _) = Setup();
            var rest = Runs.Train(method, c, data, pad, options with { OutputDirectory = interrupted, Resume = true },
                checkpoint: new PretrainedModelCheckpoint(c));
            Assert.Equal(expected, first.Concat(rest).Select(m => m.Loss).ToList());
            Assert.Equal(8, File.ReadAllLines(Path.Combine(interrupted, "metrics.jsonl")).Length);
        }
        finally { foreach (var d in new[] { straight, interrupted }) if (Directory.Exists(d)) Directory.Delete(d, true); }
    }

    [Fact]
    public void GradientAccumulationMatchesTheLargerBatch()
    {
        // Batch 4 × accumulation 1 and batch 2 × accumulation 2 see the same 4 examples per step. Losses are per-sequence
        // means here (one sequence length), so the two averages agree; compare the weights after one step.
        var (a, data, pad) = Setup();
        var (b, _, _) = Setup();
        var same = data.Take(4).Select(d => d with { }).ToList();
        var equalLength = same.Select(d => new TrainingExample(d.InputIds[..20], d.Labels[..20])).ToList();
        var common = new TrainerOptions { MaxSteps = 1, WarmupRatio = 0, Scheduler = ScheduleKind.Constant, MaxGradNorm = 1e9 };
        Runs.Train("sft", a, equalLength, pad, common with { BatchSize = 4 });
        Runs.Train("sft", b, equalLength, pad, common with { BatchSize = 2, GradientAccumulationSteps = 2 });
        var wb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in a.named_parameters())
            Assert.True(p.allclose(wb[name], rtol: 1e-4, atol: 1e-6), name);
    }

    [Fact]
    public void UnfinishedCheckpointFoldersAreIgnoredAndOldOnesPruned()
    {
        var dir = TempDir();
        try
        {
            var (model, data, pad) = Setup();
            Runs.Train("sft", model, data, pad,
                new TrainerOptions { MaxSteps = 6, BatchSize = 2, SaveSteps = 2, SaveTotalLimit = 2, OutputDirectory = dir },
                checkpoint: new PretrainedModelCheckpoint(model));
            Assert.Equal(new[] { 4, 6 }, TrainingCheckpoint.List(dir).Select(c => c.Step));
            foreach (var f in new[] { "config.json", "model.safetensors", TrainingCheckpoint.OptimizerFile, TrainingCheckpoint.StateFile })
                Assert.True(File.Exists(Path.Combine(dir, "checkpoint-6", f)), f);
            // A crash mid-save leaves only a hidden temporary folder (or a folder without trainer_state.json): never listed.
            Directory.CreateDirectory(Path.Combine(dir, ".checkpoint-8.tmp"));
            Directory.CreateDirectory(Path.Combine(dir, "checkpoint-9"));
            Assert.Equal(6, TrainingCheckpoint.List(dir)[^1].Step);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}

using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Core;
using IftSharp.Methods;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using IftSharp.Training;
using Xunit;

namespace IftSharp.Tests.Cli;

/// <summary>train's generated flags: a setting the method lacks, a value out of range or a flag that does nothing is an error.</summary>
public class TrainSettingsTests
{
    private static int Run(params string[] args) => CliRun.Run(args).Code; // through the program's error boundary

    [Theory]
    [InlineData("dpo", new[] { "--lambda", "0.5" }, "--lambda: not a setting of --method dpo")]
    [InlineData("ift", new[] { "--beta", "0.2" }, "--beta: not a setting of --method ift")]
    [InlineData("dpo", new[] { "--beta", "-0.1" }, "--beta: -0.1 is out of range; expected a number > 0")]
    [InlineData("ift", new[] { "--lambda", "2" }, "--lambda: 2 is out of range; expected a number in [0, 1]")]
    [InlineData("ift", new[] { "--learning-rate", "NaN" }, "--learning-rate: NaN is not a finite number")]
    [InlineData("ift", new[] { "--batch-size", "0" }, "--batch-size: 0 is out of range; expected a whole number ≥ 1")]
    [InlineData("ift", new[] { "--max-grad-norm", "-1" }, "--max-grad-norm: -1 is out of range")]
    [InlineData("ift", new[] { "--scheduler", "99" }, "--scheduler: '99' is not one of constant, linear, cosine")]
    [InlineData("orpo", new[] { "--precompute-ref-logps" }, "--precompute-ref-logps: --method orpo has no reference model")]
    [InlineData("kto", new[] { "--precompute-ref-logps" }, "--precompute-ref-logps: --method kto cannot precompute")]
    [InlineData("kto", new[] { "--batch-size", "1" }, "--batch-size: KTO needs at least 2")]
    [InlineData("spin", new[] { "--eval-dataset", "x.jsonl" }, "--eval-dataset: --method spin does not support an evaluation loss")]
    [InlineData("spin", new[] { "--loss-type", "ipo" }, "--loss-type: ipo; SPIN's loss is sigmoid or hinge")]
    [InlineData("dpo", new[] { "--loss-type", "exo_pair" }, "--loss-type exo_pair: needs --label-smoothing > 0")]
    [InlineData("exo", new[] { "--label-smoothing", "0.01" }, "--label-smoothing: only used with --exo-target smoothed")]
    [InlineData("nope", new string[0], "--method: 'nope' is not a method; expected one of sft, ift")]
    [InlineData("ift", new[] { "--lora-r", "0" }, "--lora-r: 0 is out of range; expected a whole number ≥ 1")]
    [InlineData("ift", new[] { "--lora-r", "4", "--lora-target-modules", "qproj" },
        "--lora-target-modules: 'qproj' is not a decoder projection")]
    [InlineData("ift", new[] { "--lora-r", "4", "--lora-dropout", "1" }, "--lora-dropout: 1 is out of range; expected a number in [0, 1)")]
    [InlineData("ift", new[] { "--lora-alpha", "8" }, "--lora-alpha: does nothing without --lora-r")]
    [InlineData("ift", new[] { "--adapter", "no-such-adapter" }, "--adapter: no-such-adapter is not a folder")]
    [InlineData("ift", new[] { "--logits-chunk", "0" }, "--logits-chunk: 0 is out of range")]
    [InlineData("sft", new[] { "--ref-dtype", "bf16" }, "--ref-dtype: --method sft has no reference model")]
    [InlineData("dpo", new[] { "--lora-r", "4", "--ref-dtype", "bf16" }, "--ref-dtype: with LoRA the reference is the base model itself")]
    [InlineData("dpo", new[] { "--ref-dtype", "fp8" }, "--ref-dtype: 'fp8' is not one of float32, bf16")]
    public void BadSettingsAreRefusedBeforeAnythingLoads(string method, string[] flags, string expected)
    {
        // The model folder does not exist: every one of these is refused before it would be read.
        string[] args =
            ["train", "--method", method, "--model", "no-such-model", "--dataset", "no-such.jsonl", "--output", "no-such-out", .. flags];
        Assert.Equal(2, Run(args));
        var e = Assert.Throws<InputException>(() => Bind(args[1..]));
        Assert.Contains(expected, e.Message);
        Assert.False(Directory.Exists("no-such-out"));
    }

    /// <summary>What the command does before training, as a library call: bind the flags, then validate the run.</summary>
    private static void Bind(string[] args)
    {
        var given = new Dictionary<string, string>();
        for (int i = 0; i < args.Length; i++)
        {
            var name = args[i][2..];
            bool isSwitch = i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal);
            given[name] = isSwitch ? "true" : args[++i];
        }
        var run = SettingOptions.Bind(new TrainingRunOptions(), given);
        var method = MethodRegistry.Get(run.Method);
        var trainer = SettingOptions.Bind(new TrainerOptions(), given);
        var options = MethodRegistry.Options(method, given);
        TrainingRun.Run(run with { Trainer = trainer, MethodOptions = options });
    }

    [Theory]
    [InlineData("--lora-dropout", "0.1")]
    [InlineData("--lora-target-modules", "q_proj")]
    [InlineData("--use-rslora")]
    public void ALoraSettingWithoutLoraIsRefused(params string[] flag)
    {
        var outcome = CliRun.Run(["train", "--model", "m", "--dataset", "d", "--output", "no-such-out", .. flag]);
        outcome.AssertError(2, $"{flag[0]}: does nothing without --lora-r (or --adapter)");
        Assert.False(Directory.Exists("no-such-out"));
    }

    [Fact]
    public void EvalStepsWithoutAnEvalDatasetIsRefused() =>
        Assert.Equal(2, Run("train", "--model", "m", "--dataset", "d", "--output", "o", "--eval-steps", "5"));

    [Fact]
    public void AMisspelledConfigKeyNamesTheNearestSetting()
    {
        var config = Path.Combine(Path.GetTempPath(), $"iftsharp-config-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(config, "learning_rat: 0.001\n");
        try
        {
            var options = new SettingOptions();
            var command = new Command("train");
            foreach (var s in Settings.Of(typeof(TrainerOptions))) options.Add(command, s, s.Help);
            var e = Assert.Throws<InputException>(() => options.Given(command.Parse([]), config));
            Assert.Contains(":1: field 'learning_rat': not a setting; did you mean learning_rate?", e.Message);
            Assert.Equal(2, Run("train", "--config", config));
        }
        finally { File.Delete(config); }
    }

    [Fact]
    public void AConfigFileCanSetAMethodSetting()
    {
        var dir = Temp.Directory("config-method");
        try
        {
            var model = Path.Combine(dir, "m");
            using (var m = TinyLlama.Create()) m.SavePretrained(model);
            new ByteLevelTokenizer().Save(model);
            var data = Path.Combine(AppContext.BaseDirectory, "data", "demo", "train.jsonl");
            var config = Path.Combine(dir, "c.yaml");
            File.WriteAllText(config, $"method: ift\nlambda: 0.5\npropagation_norm: l2\nmodel: {model}\ndataset: {data}\n"
                + $"output: {dir}/o\nmax_steps: 1\nbatch_size: 2\n");
            Assert.Equal(0, Run("train", "--config", config));
            Assert.Equal(2, Run("train", "--config", config, "--method", "sft")); // lambda is not an SFT setting
        }
        finally { Directory.Delete(dir, true); }
    }
}

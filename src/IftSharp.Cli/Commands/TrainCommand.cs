using System.CommandLine;
using IftSharp.Core;
using IftSharp.Data;
using IftSharp.Models;
using IftSharp.Tokenization;
using IftSharp.Training;
using Spectre.Console;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp train</c>: SFT or IFT on a conversational JSONL dataset; saves the model in Hugging Face format.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var d = new TrainerOptions();
        var method = new Option<string>("--method") { Description = "sft or ift (conversational data: {\"messages\": [...]}); dpo, ipo, orpo, simpo or exo (preference data: prompt/chosen/rejected).", DefaultValueFactory = _ => d.Method };
        method.AcceptOnlyFromAmong(["sft", "ift", .. Trainer.PreferenceMethods, "exo-rw"]);
        var betaR = new Option<double>("--beta-r") { Description = "EXO's reward temperature β_r (exo-rw).", DefaultValueFactory = _ => d.BetaR };
        var beta = new Option<double?>("--beta") { Description = "β of the preference methods (default: DPO/IPO 0.1, ORPO 0.25, SimPO 2.0, EXO 0.5)." };
        var config = new Option<string?>("--config") { Description = "YAML or JSON file of option values (keys named like the flags, e.g. learning_rate: 0.001); flags given here override it." };
        var maxPromptLength = new Option<int?>("--max-prompt-length") { Description = "Keep only the last N prompt tokens (TRL's policy: the prompt is cut on the left, then the sequence on the right to --max-length)." };
        var bf16 = new Option<bool>("--bf16") { Description = "bfloat16 mixed precision: bf16 forward/backward, float32 master weights and optimizer state, losses in float32." };
        var evalDataset = new Option<string?>("--eval-dataset") { Description = "Held-out data in the same shape; its mean loss is logged as eval_loss." };
        var evalSteps = new Option<int>("--eval-steps") { Description = "Evaluate every N steps (and at the last step).", DefaultValueFactory = _ => 50 };
        var groupByLength = new Option<bool>("--group-by-length") { Description = "Batch examples of similar length together (less padding), as transformers' group_by_length." };
        var precompute = new Option<bool>("--precompute-ref-logps") { Description = "Compute the reference model's log-probs once before training instead of every step." };
        var model = new Option<string>("--model") { Description = "Model folder to start from (config.json, model.safetensors, tokenizer files)." };
        var dataset = new Option<string>("--dataset") { Description = "JSONL: conversations ({\"messages\": [...]}, loss on assistant turns) for sft/ift; prompt/chosen/rejected pairs for the preference methods." };
        var output = new Option<string>("--output") { Description = "Folder for the trained model and metrics.jsonl." };
        var lr = new Option<double>("--learning-rate") { Description = "Peak AdamW learning rate.", DefaultValueFactory = _ => d.LearningRate };
        var steps = new Option<int>("--max-steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => d.MaxSteps };
        var batch = new Option<int>("--batch-size") { Description = "Conversations per step.", DefaultValueFactory = _ => d.BatchSize };
        var maxLength = new Option<int>("--max-length") { Description = "Tokens per conversation; longer ones are cut on the right.", DefaultValueFactory = _ => 512 };
        var scheduler = new Option<ScheduleKind>("--scheduler") { Description = "Constant, Linear or Cosine decay after warm-up.", DefaultValueFactory = _ => d.Scheduler };
        var warmup = new Option<double>("--warmup-ratio") { Description = "Fraction of steps of linear warm-up.", DefaultValueFactory = _ => d.WarmupRatio };
        var clip = new Option<double>("--max-grad-norm") { Description = "Gradient clipping norm.", DefaultValueFactory = _ => d.MaxGradNorm };
        var lambda = new Option<double>("--lambda") { Description = "IFT's λ.", DefaultValueFactory = _ => d.Lambda };
        var gamma = new Option<double>("--gamma") { Description = "IFT's γ.", DefaultValueFactory = _ => d.Gamma };
        var seed = new Option<long>("--seed") { Description = "Seed of the data order.", DefaultValueFactory = _ => d.Seed };
        var accum = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step.", DefaultValueFactory = _ => d.GradientAccumulationSteps };
        var optimizerKind = new Option<OptimizerKind>("--optimizer") { Description = "AdamW or RMSprop (the official IFT recipe's).", DefaultValueFactory = _ => d.Optimizer };
        var weightDecay = new Option<double>("--weight-decay") { Description = "Weight decay.", DefaultValueFactory = _ => d.WeightDecay };
        var saveSteps = new Option<int>("--save-steps") { Description = "Checkpoint (OUTPUT/checkpoint-STEP) every N steps; 0: only at the end and on Ctrl-C.", DefaultValueFactory = _ => d.SaveSteps };
        var saveLimit = new Option<int?>("--save-total-limit") { Description = "Keep only the newest N checkpoints." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --output (same method and seed): the same per-step losses as an uninterrupted run." };
        var command = new Command("train", "Fine-tune a model with SFT or IFT on a conversational JSONL dataset (completion-only loss); writes the model (Hugging Face format) and metrics.jsonl.");
        foreach (var o in new Option[] { method, model, dataset, output, lr, steps, batch, maxLength, scheduler, warmup, clip, lambda, gamma, seed, accum, optimizerKind, weightDecay, saveSteps, saveLimit, resume, beta, precompute, evalDataset, evalSteps, config, bf16, betaR, maxPromptLength, groupByLength }) command.Options.Add(o);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var values = new OptionValues(parse, parse.GetValue(config));
            var dir = values.Required(model);
            var outDir = values.Required(output);
            var (tokenizer, template) = TokenizerLoader.Load(dir);
            ModelChecks.VocabularyCovers(DecoderConfig.Load(Path.Combine(dir, "config.json")), tokenizer, Path.Combine(dir, "config.json"));
            var file = values.Required(dataset);
            int max = values.Get(maxLength);
            int? maxPrompt = values.Get(maxPromptLength);
            bool rewardGroups = values.Get(method) == "exo-rw";
            bool preference = rewardGroups || Trainer.PreferenceMethods.Contains(values.Get(method));
            var examples = preference ? [] : ConversationDataset.ReadExamples(file, tokenizer, template, max, maxPrompt);
            var pairs = preference && !rewardGroups ? PreferenceDataset.Read(file, tokenizer, Template(), max, maxPrompt) : [];
            var groups = rewardGroups ? RewardDataset.Read(file, tokenizer, Template(), max, maxPrompt) : [];
            var evalFile = values.Get(evalDataset);
            var evalExamples = evalFile is null || preference ? null : ConversationDataset.ReadExamples(evalFile, tokenizer, template, max, maxPrompt);
            var evalPairs = evalFile is null || !preference || rewardGroups ? null : PreferenceDataset.Read(evalFile, tokenizer, Template(), max, maxPrompt);
            IChatTemplate Template() => template ?? throw new InputException($"{dir}/tokenizer_config.json: field 'chat_template': missing; preference data needs one");
            var options = d with
            {
                Method = values.Get(method)!,
                LearningRate = values.Get(lr),
                MaxSteps = values.Get(steps),
                BatchSize = values.Get(batch),
                Scheduler = values.Get(scheduler),
                WarmupRatio = values.Get(warmup),
                MaxGradNorm = values.Get(clip),
                Lambda = values.Get(lambda),
                Gamma = values.Get(gamma),
                Seed = values.Get(seed),
                OutputDirectory = outDir,
                GradientAccumulationSteps = values.Get(accum),
                Optimizer = values.Get(optimizerKind),
                WeightDecay = values.Get(weightDecay),
                SaveSteps = values.Get(saveSteps),
                SaveTotalLimit = values.Get(saveLimit),
                Resume = values.Get(resume),
                Beta = values.Get(beta),
                BetaR = values.Get(betaR),
                GroupByLength = values.Get(groupByLength),
                EvalSteps = evalFile is null ? 0 : values.Get(evalSteps),
            };
            using var lm = LlamaForCausalLM.FromPretrained(dir);
            using var compute = values.Get(bf16) ? new LlamaForCausalLM(lm.Config) : null;
            using var reference = rewardGroups || preference && Trainer.NeedsReference(options.Method) ? LlamaForCausalLM.FromPretrained(dir) : null;
            if (reference is not null) foreach (var p in reference.parameters()) p.requires_grad = false;
            IReadOnlyList<StepMetrics> Run(Action<StepMetrics> onStep, CancellationToken token, IModelCheckpoint checkpoint) => rewardGroups
                ? Trainer.TrainRewardGroups(lm, reference!, groups, tokenizer.PadTokenId ?? 0, options, onStep, token, checkpoint, compute)
                : preference
                ? Trainer.TrainPreference(lm, reference, pairs, tokenizer.PadTokenId ?? 0, options, values.Get(precompute), onStep, token, checkpoint, evalPairs, compute)
                : Trainer.Train(lm, examples, tokenizer.PadTokenId ?? 0, options, onStep, token, checkpoint, evalExamples, compute);
            var metrics = Path.Combine(outDir, "metrics.jsonl");
            if (!options.Resume && File.Exists(metrics)) File.Delete(metrics);
            var checkpointer = new PretrainedModelCheckpoint(lm, dir);
            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel; // Ctrl-C: finish the step, save a checkpoint, exit
            AnsiConsole.MarkupLine($"{options.Method.ToUpperInvariant()} on {(rewardGroups ? groups.Count : preference ? pairs.Count : examples.Count)} {(rewardGroups ? "reward groups" : preference ? "preference pairs" : "examples")} from {Markup.Escape(file)}, {options.MaxSteps} steps of {options.BatchSize}.");
            IReadOnlyList<StepMetrics> history = [];
            if (Console.IsOutputRedirected)
                history = Run(m =>
                    Console.WriteLine($"step {m.Step}/{options.MaxSteps} epoch {m.Epoch:F2} loss {m.Loss:F4} lr {m.LearningRate:G3} grad_norm {m.GradNorm:F3} {m.TokensPerSecond:F0} tokens/s"
                    + (m.Objective.TryGetValue("eval_loss", out var e) ? $" eval_loss {e:F4}" : "")), cancel.Token, checkpointer);
            else
                AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask(options.Method, maxValue: options.MaxSteps);
                        history = Run(m =>
                        {
                            task.Description = $"step {m.Step} epoch {m.Epoch:F2} loss {m.Loss:F3} lr {m.LearningRate:G2} {m.TokensPerSecond:F0} tok/s";
                            task.Increment(1);
                        }, cancel.Token, checkpointer);
                    });
            Console.CancelKeyPress -= onCancel;
            if (cancel.IsCancellationRequested)
            {
                AnsiConsole.MarkupLine($"Interrupted: saved {Markup.Escape(TrainingCheckpoint.List(outDir)[^1].Path)}; continue with --resume.");
                return 130;
            }
            if (history.Count == 0) throw new InputException($"--resume: the newest checkpoint in {outDir} is already at --max-steps {options.MaxSteps}");
            lm.SavePretrained(outDir);
            foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
                if (File.Exists(Path.Combine(dir, f)) && Path.GetFullPath(dir) != Path.GetFullPath(outDir)) File.Copy(Path.Combine(dir, f), Path.Combine(outDir, f), true);
            AnsiConsole.MarkupLine($"Loss {history[0].Loss:F4} → {history[^1].Loss:F4}. Saved to [bold]{Markup.Escape(outDir)}[/] with metrics.jsonl (draw it: iftsharp plot {Markup.Escape(outDir)}).");
            return 0;
        }));
        return command;
    }
}

using System.CommandLine;
using IftSharp.Core;
using IftSharp.Models;
using IftSharp.Models.Lora;
using IftSharp.Tokenization;
using static TorchSharp.torch;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp generate</c>: streams a model's continuation of a prompt.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model")
        {
            Description = "Model folder (config.json, model.safetensors, tokenizer files).", Required = true,
        };
        var prompt = new Option<string>("--prompt") { Description = "The prompt text.", Required = true };
        var chat = new Option<bool>("--chat")
        {
            Description = "Apply the model's chat template: the prompt as one user message, then the generation prompt.",
        };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature")
        {
            Description = "Sampling temperature; 0 is greedy.", DefaultValueFactory = _ => 0,
        };
        var topK = new Option<int>("--top-k")
        {
            Description = "Sample among the K most likely tokens (0: all).", DefaultValueFactory = _ => 0,
        };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass.", DefaultValueFactory = _ => 1.0 };
        var repetition = new Option<double>("--repetition-penalty")
        {
            Description = "Hugging Face's repetition penalty (1: none).", DefaultValueFactory = _ => 1.0,
        };
        var seed = new Option<long>("--seed") { Description = "Seed of the sampler.", DefaultValueFactory = _ => 42 };
        var bf16 = new Option<bool>("--bf16")
        {
            Description = "Load the weights in bfloat16 and decode from them (half the bytes per token; float32 activations).",
        };
        var adapter = new Option<string?>("--adapter") { Description = "A LoRA adapter folder (PEFT's format) to apply to --model." };
        var command = new Command("generate", "Generate from a model folder, streaming tokens as they come.");
        foreach (var o in new Option[] { model, prompt, chat, maxNew, temperature, topK, topP, repetition, seed, bf16, adapter })
            command.Options.Add(o);
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var dir = parse.GetValue(model)!;
            new GenerationLimits // every flag's range, before the model loads
            {
                Prompt = parse.GetValue(prompt)!, Chat = parse.GetValue(chat), MaxNewTokens = parse.GetValue(maxNew),
                Temperature = parse.GetValue(temperature), TopK = parse.GetValue(topK), TopP = parse.GetValue(topP),
                RepetitionPenalty = parse.GetValue(repetition),
            }.Check();
            if (!File.Exists(Path.Combine(dir, "config.json")))
                throw new InputException($"{Path.Combine(dir, "config.json")}: file not found; expected a model folder");
            var (tokenizer, template) = TokenizerLoader.Load(dir);
            ModelChecks.VocabularyCovers(DecoderConfig.Load(Path.Combine(dir, "config.json")), tokenizer, Path.Combine(dir, "config.json"));
            using var lm = LlamaForCausalLM.FromPretrained(dir, parse.GetValue(bf16) ? ScalarType.BFloat16 : ScalarType.Float32);
            if (parse.GetValue(adapter) is string adapterDir) PeftAdapter.Load(lm, adapterDir, trainable: false); // the model disposes it
            var text = parse.GetValue(prompt)!;
            if (parse.GetValue(chat))
                text = (template ?? throw new InputException($"{dir}: the tokenizer has no chat_template; run without --chat"))
                    .Render([new ChatMessage("user", text)], addGenerationPrompt: true).Text;
            var ids = tokenizer.Encode(text).Ids.ToList();
            if (PositionWarning(ids.Count, parse.GetValue(maxNew), lm.Config.MaxPositionEmbeddings) is string warning)
                Console.Error.WriteLine($"warning: {warning}");
            var produced = new List<int>();
            string shown = "";
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxNew), Temperature = parse.GetValue(temperature), TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP), RepetitionPenalty = parse.GetValue(repetition), Seed = parse.GetValue(seed),
                EosTokenIds = tokenizer.EosTokenId is int eos ? [eos] : null,
                OnStep = step =>
                {
                    if (step.Finished[0] && tokenizer.EosTokenId == step.Tokens[0]) return;
                    produced.Add(step.Tokens[0]);
                    // Decode the whole continuation each time: a multi-byte character may span several tokens.
                    var full = tokenizer.Decode(produced, skipSpecialTokens: true);
                    if (full.Length > shown.Length && !full.EndsWith('\uFFFD')) { Console.Write(full[shown.Length..]); shown = full; }
                },
            };
            TokenGenerator.Generate(lm, [ids], options);
            Console.WriteLine();
            return 0;
        }));
        return command;
    }

    /// <summary>What to tell the user when the prompt (or prompt and continuation) outgrow the model's trained positions.</summary>
    public static string? PositionWarning(int promptTokens, int maxNewTokens, int maxPositions)
    {
        if (promptTokens > maxPositions)
            return $"the prompt has {promptTokens} tokens, more than the model's max_position_embeddings ({maxPositions}); " +
                   "positions past it were never trained and the output may degrade";
        if (promptTokens + maxNewTokens > maxPositions)
            return $"the prompt ({promptTokens} tokens) and --max-new-tokens {maxNewTokens} may run past the model's " +
                   $"max_position_embeddings ({maxPositions})";
        return null;
    }
}

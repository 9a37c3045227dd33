using System.CommandLine;
using IftSharp.Models;

namespace IftSharp.Cli.Commands;

/// <summary><c>iftsharp init-model</c>: a randomly initialised model folder from an architecture config and a tokenizer.</summary>
public static class InitModelCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config")
        {
            Description = "Architecture config.json (Hugging Face fields; vocab_size/bos/eos may be omitted).", Required = true,
        };
        var tokenizer = new Option<DirectoryInfo>("--tokenizer")
        {
            Description = "Folder with tokenizer.json (and tokenizer_config.json, special_tokens_map.json).", Required = true,
        };
        var output = new Option<DirectoryInfo>("--output")
        {
            Description = "Folder to write config.json, model.safetensors and the tokenizer files into.", Required = true,
        };
        var seed = new Option<long>("--seed") { Description = "Seed of the weight initialisation.", DefaultValueFactory = _ => 0 };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the contents of a non-empty --output folder." };
        var command = new Command("init-model", "Create a freshly initialised model (Hugging Face layout) from a config and a tokenizer.");
        command.Options.Add(config);
        command.Options.Add(tokenizer);
        command.Options.Add(output);
        command.Options.Add(seed);
        command.Options.Add(overwrite);
        command.SetAction(parseResult => CliErrors.Run(() =>
        {
            var outputDir = parseResult.GetValue(output)!.FullName;
            var written = PretrainedInitializer.Initialize(parseResult.GetValue(config)!.FullName,
                parseResult.GetValue(tokenizer)!.FullName,
                outputDir, parseResult.GetValue(seed), parseResult.GetValue(overwrite));
            long parameters = LlamaForCausalLM.ParameterCount(written); // counted on the meta device: no second copy of the model
            Console.WriteLine($"wrote {outputDir}: {written.ModelType}, {written.NumHiddenLayers} layers, hidden {written.HiddenSize}, "
                + $"vocab {written.VocabSize}, {parameters:N0} parameters");
            return 0;
        }));
        return command;
    }
}

using System.CommandLine;
using IftSharp.Cli.Commands;
using IftSharp.Tests.Support;
using IftSharp.Tokenization;
using Xunit;

namespace IftSharp.Tests.Cli;

public class GenerateCommandTests
{
    [Fact]
    public void WarnsWhenThePromptOrTheContinuationOutgrowTheModelsPositions()
    {
        Assert.Null(GenerateCommand.PositionWarning(100, 28, 128));
        Assert.Contains("may run past the model's max_position_embeddings (128)", GenerateCommand.PositionWarning(100, 29, 128));
        Assert.Contains("the prompt has 129 tokens, more than the model's max_position_embeddings (128)",
                        GenerateCommand.PositionWarning(129, 0, 128));
    }

    [Fact]
    public void GeneratesFromBfloat16WeightsAndWarnsAboutALongPrompt()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-generate-" + Guid.NewGuid().ToString("N"));
        using (var model = TinyLlama.Create()) model.SavePretrained(dir); // 256 positions
        new ByteLevelTokenizer().Save(dir);
        var error = Console.Error;
        var captured = new StringWriter();
        try
        {
            Console.SetError(captured);
            Assert.Equal(0, Run("generate", "--model", dir, "--prompt", "hi", "--max-new-tokens", "3", "--bf16"));
            Assert.DoesNotContain("warning:", captured.ToString()); // (other tests may write to the shared stderr)
            Assert.Equal(0, Run("generate", "--model", dir, "--prompt", new string('x', 300), "--max-new-tokens", "2", "--bf16"));
            Assert.Contains("warning: the prompt has", captured.ToString());
        }
        finally
        {
            Console.SetError(error);
            Directory.Delete(dir, true);
        }
    }

    private static int Run(params string[] args)
    {
        var root = new RootCommand();
        foreach (var c in CommandCatalog.All()) root.Subcommands.Add(c);
        return root.Parse(args).Invoke();
    }
}

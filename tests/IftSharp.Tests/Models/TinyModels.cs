using IftSharp.Models;

namespace IftSharp.Tests.Models;

internal static class TinyModels
{
    public static string FixtureDirectory(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "models", name);

    public static DecoderConfig Llama(bool tied = true) => new()
    {
        ModelType = "llama", HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4,
        NumKeyValueHeads = 2, RmsNormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 512, TieWordEmbeddings = tied,
        VocabSize = 97, BosTokenId = 1, EosTokenId = [2], InitializerRange = 0.5,
    };

    public static string TempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-models-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}

using IftSharp.Models;
using static TorchSharp.torch;

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

    /// <summary>
    /// The tiny Llama with weights drawn at initializer range 0.3 (float64 by default), for the tests that compare
    /// gradients: large enough that no gradient the comparison relies on is vanishingly small.
    /// </summary>
    public static LlamaForCausalLM GradientLlama(bool tied, long seed, ScalarType dtype = ScalarType.Float64) =>
        ModelFactory.CreateFromConfig(Llama(tied) with { InitializerRange = 0.3 }, seed, dtype);

    public static string TempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "iftsharp-models-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}

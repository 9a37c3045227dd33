using System.Text.Json;
using static TorchSharp.torch;

namespace IftSharp.Tests.Support;

/// <summary>Reads committed golden fixtures (made by the scripts in Fixtures/tools) into tensors.</summary>
public static class Fixture
{
    public static string PathOf(params string[] parts) =>
        Path.Combine(new[] { AppContext.BaseDirectory, "Fixtures" }.Concat(parts).ToArray());

    public static JsonElement Json(params string[] parts) =>
        JsonDocument.Parse(File.ReadAllText(PathOf(parts))).RootElement;

    /// <summary>A nested JSON array of numbers as a float64 tensor.</summary>
    public static Tensor Tensor(JsonElement e, ScalarType dtype = ScalarType.Float64)
    {
        var shape = new List<long>();
        var cursor = e;
        while (cursor.ValueKind == JsonValueKind.Array)
        {
            shape.Add(cursor.GetArrayLength());
            if (cursor.GetArrayLength() == 0) break;
            cursor = cursor[0];
        }
        var values = new List<double>();
        Flatten(e, values);
        return tensor(values.ToArray(), dtype: ScalarType.Float64).reshape(shape.ToArray()).to_type(dtype);
    }

    public static Tensor Long(JsonElement e) => Tensor(e).to_type(ScalarType.Int64);

    private static void Flatten(JsonElement e, List<double> into)
    {
        if (e.ValueKind == JsonValueKind.Array) foreach (var x in e.EnumerateArray()) Flatten(x, into);
        else into.Add(e.GetDouble());
    }
}

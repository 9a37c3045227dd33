using System.Text.Json;
using IftSharp.Core;
using static IftSharp.Tokenization.TokenizerJsonFields;

namespace IftSharp.Tokenization;

/// <summary>
/// The ids the <c>post_processor</c> puts around a single sequence when special tokens are added:
/// TemplateProcessing's special tokens before and after <c>$A</c>; ByteLevel adds none (it only trims offsets, and
/// IftSharp's offsets keep the whole span); a Sequence applies its steps in turn, each wrapping the last one's result.
/// </summary>
internal sealed record TemplatePostProcessor(int[] Prefix, int[] Suffix)
{
    public static readonly TemplatePostProcessor None = new([], []);

    public static TemplatePostProcessor Parse(JsonElement e, string path, string field = "post_processor")
    {
        if (e.ValueKind == JsonValueKind.Null) return None;
        var type = TypeOf(e);
        switch (type)
        {
            case "ByteLevel": return None;
            case "Sequence":
                var result = None;
                int i = 0;
                foreach (var step in Required(e, "processors", path, field).EnumerateArray())
                {
                    var inner = Parse(step, path, $"{field}.processors[{i++}]");
                    result = new TemplatePostProcessor([.. inner.Prefix, .. result.Prefix], [.. result.Suffix, .. inner.Suffix]);
                }
                return result;
            case "TemplateProcessing":
                var prefix = new List<int>();
                var suffix = new List<int>();
                bool afterSequence = false;
                foreach (var piece in Required(e, "single", path, field).EnumerateArray())
                {
                    if (!IsAbsent(piece, "Sequence")) { afterSequence = true; continue; }
                    var name = IsAbsent(piece, "SpecialToken") ? null : String(piece.GetProperty("SpecialToken"), "id", path,
                        $"{field}.single");
                    var specials = Required(e, "special_tokens", path, field);
                    if (name is null || IsAbsent(specials, name))
                        throw InputException.At(path, null, $"{field}.single", $"special token '{name}' is not listed in special_tokens");
                    (afterSequence ? suffix : prefix).AddRange(Required(specials.GetProperty(name), "ids", path, $"{field}.special_tokens")
                        .EnumerateArray().Select(x => x.GetInt32()));
                }
                return new TemplatePostProcessor(prefix.ToArray(), suffix.ToArray());
            default:
                throw Unsupported(path, $"{field}.type", type, "TemplateProcessing, ByteLevel or Sequence");
        }
    }
}

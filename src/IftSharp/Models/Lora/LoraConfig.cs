using System.Text.RegularExpressions;
using IftSharp.Core;

namespace IftSharp.Models.Lora;

/// <summary>
/// LoRA's settings, as PEFT's <c>LoraConfig</c> names them. The rank-r update of a projection is
/// <c>B·A·scaling</c> with <c>scaling = lora_alpha / r</c>, or <c>lora_alpha / √r</c> with rsLoRA (Kalajdzievski, 2023).
/// </summary>
public sealed record LoraConfig
{
    /// <summary>PEFT's shorthand for every linear layer but the output head.</summary>
    public const string AllLinear = "all-linear";

    /// <summary>The projections of a decoder layer LoRA can adapt, in Hugging Face's names.</summary>
    public static readonly IReadOnlyList<string> DecoderProjections =
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>The rank r (PEFT's default is 8).</summary>
    public int R { get; init; } = 8;

    /// <summary>lora_alpha; null means 2r, as LLaMA-Factory defaults it (PEFT's own default is 8 whatever r).</summary>
    public double? Alpha { get; init; }

    /// <summary>Dropout on the projection's input before A, in training mode only (PEFT's default 0).</summary>
    public double Dropout { get; init; }

    /// <summary>
    /// Module names as PEFT reads a list: a module is adapted when its path equals a name or ends with "." + name
    /// (<c>q_proj</c>, <c>self_attn.q_proj</c>); <see cref="AllLinear"/> stands for every decoder projection.
    /// </summary>
    public IReadOnlyList<string> TargetModules { get; init; } = DecoderProjections;

    /// <summary>
    /// A regular expression a whole module path must match (PEFT's <c>target_modules</c> as a string); used instead of
    /// <see cref="TargetModules"/> when set.
    /// </summary>
    public string? TargetPattern { get; init; }

    /// <summary>rsLoRA: scaling lora_alpha / √r, so the update's size does not shrink as r grows.</summary>
    public bool UseRslora { get; init; }

    /// <summary>lora_alpha as used and written to adapter_config.json.</summary>
    public double LoraAlpha => Alpha ?? 2.0 * R;

    public double Scaling => UseRslora ? LoraAlpha / Math.Sqrt(R) : LoraAlpha / R;

    /// <summary>
    /// Settings from command-line style values: <paramref name="targets"/> is a comma-separated list of projection
    /// names or <c>all-linear</c>. Bad values are an <see cref="InputException"/> naming the option.
    /// </summary>
    public static LoraConfig FromOptions(int r, double? alpha = null, double dropout = 0, string? targets = null, bool useRslora = false)
    {
        var names = (targets ?? string.Join(",", DecoderProjections))
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new InputException("--lora-target-modules: expected projection names or all-linear");
        foreach (var name in names)
            if (name != AllLinear && !DecoderProjections.Contains(name))
                throw new InputException($"--lora-target-modules: '{name}' is not a decoder projection; " +
                    $"expected {string.Join(", ", DecoderProjections)} or {AllLinear}");
        var config = new LoraConfig { R = r, Alpha = alpha, Dropout = dropout, TargetModules = names, UseRslora = useRslora };
        config.Validate("--lora");
        return config;
    }

    /// <summary>Throws an <see cref="InputException"/> naming <paramref name="where"/> when a setting is out of range.</summary>
    public void Validate(string where)
    {
        if (R <= 0) throw new InputException($"{where}: r must be a positive integer, got {R}");
        if (Alpha is double a && (!double.IsFinite(a) || a <= 0))
            throw new InputException($"{where}: lora_alpha must be positive, got {a}");
        if (!(Dropout >= 0 && Dropout < 1)) throw new InputException($"{where}: lora_dropout must be in [0, 1), got {Dropout}");
        if (TargetPattern is null && TargetModules.Count == 0) throw new InputException($"{where}: target_modules is empty");
    }

    /// <summary>Whether the module at <paramref name="path"/> (for example <c>model.layers.0.self_attn.q_proj</c>) is adapted.</summary>
    public bool Targets(string path)
    {
        if (TargetPattern is not null) return Regex.IsMatch(path, $"^(?:{TargetPattern})$", RegexOptions.CultureInvariant);
        foreach (var name in TargetModules)
        {
            if (name == AllLinear) return true;
            if (path == name || path.EndsWith("." + name, StringComparison.Ordinal)) return true;
        }
        return false;
    }
}

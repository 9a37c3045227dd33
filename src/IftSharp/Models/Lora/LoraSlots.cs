using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models.Lora;

/// <summary>
/// The projections of one block (attention or MLP) by their Hugging Face names, and the LoRA adapters attached to them.
/// Adapters are kept beside the module tree, not registered in it: the model's state dict, its checkpoints and a
/// bf16 compute copy's parameter pairing stay exactly those of the base model.
/// </summary>
public sealed class LoraSlots
{
    private readonly Dictionary<string, Linear> _linears;
    private readonly Dictionary<string, LoraLinear> _adapters = new(StringComparer.Ordinal);

    public LoraSlots(params (string Name, Linear Linear)[] linears)
    {
        _linears = linears.ToDictionary(p => p.Name, p => p.Linear, StringComparer.Ordinal);
    }

    /// <summary>The block's projections, by name.</summary>
    public IReadOnlyDictionary<string, Linear> Linears => _linears;

    /// <summary>The adapters attached, by projection name.</summary>
    public IReadOnlyDictionary<string, LoraLinear> Adapters => _adapters;

    /// <summary>Attaches <paramref name="adapter"/> to projection <paramref name="name"/>, or detaches it (null).</summary>
    public void Attach(string name, LoraLinear? adapter)
    {
        if (!_linears.ContainsKey(name)) throw new ArgumentException($"no projection '{name}' here", nameof(name));
        if (adapter is null) _adapters.Remove(name);
        else _adapters[name] = adapter;
    }

    /// <summary>Projection <paramref name="name"/> of <paramref name="x"/>, plus the update of its adapter if one is enabled.</summary>
    public Tensor Forward(string name, Tensor x, bool training) =>
        LoraLinear.Apply(_linears[name], _adapters.GetValueOrDefault(name), x, training);
}

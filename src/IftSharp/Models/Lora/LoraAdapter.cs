using IftSharp.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models.Lora;

/// <summary>
/// A LoRA adapter injected into a <see cref="LlamaForCausalLM"/>'s decoder projections, as PEFT's <c>get_peft_model</c>
/// does: every base parameter is frozen, each targeted projection gains an update <c>B·A·scaling</c>, and only the
/// adapters' A and B train. <see cref="Disabled"/> turns every update off at once, so the same model computes the base
/// model's outputs (a DPO reference without a second copy of the weights). Saved and loaded in PEFT's format by
/// <see cref="PeftAdapter"/>.
/// </summary>
public sealed class LoraAdapter : IDisposable
{
    private readonly LlamaForCausalLM _model;
    private readonly List<Module> _modules;
    private readonly List<(Parameter Parameter, bool RequiresGrad)> _baseTrainable;
    private bool _attached = true;
    private bool _enabled = true;

    /// <summary>One adapted projection: its module path (<c>model.layers.0.self_attn.q_proj</c>), its slot, its update.</summary>
    private sealed record Module(string Path, LoraSlots Slots, string Projection, LoraLinear Adapter);

    private LoraAdapter(LlamaForCausalLM model, LoraConfig config, List<Module> modules, List<(Parameter, bool)> baseTrainable)
    {
        _model = model;
        Config = config;
        _modules = modules;
        _baseTrainable = baseTrainable;
    }

    public LoraConfig Config { get; }

    /// <summary>The adapted projections by module path, in layer order.</summary>
    public IReadOnlyList<(string Path, LoraLinear Adapter)> Modules => _modules.Select(m => (m.Path, m.Adapter)).ToList();

    /// <summary>Whether the updates are applied (the base model's outputs when false).</summary>
    public bool Enabled
    {
        get => _enabled;
        set
        {
            _enabled = value;
            foreach (var m in _modules) m.Adapter.Enabled = value;
        }
    }

    /// <summary>Turns the adapter off until the returned handle is disposed (PEFT's <c>disable_adapter()</c> context).</summary>
    public IDisposable Disabled()
    {
        bool before = Enabled;
        Enabled = false;
        return new Restore(() => Enabled = before);
    }

    /// <summary>The trainable parameters: every A and B.</summary>
    public IEnumerable<Parameter> parameters() => _modules.SelectMany(m => new[] { m.Adapter.A, m.Adapter.B });

    /// <summary>A and B under the names PEFT saves them with (<c>base_model.model.{path}.lora_A.weight</c>), sorted.</summary>
    public IReadOnlyList<KeyValuePair<string, Tensor>> PeftStateDict() =>
        _modules.SelectMany(m => new[]
            {
                new KeyValuePair<string, Tensor>(PeftAdapter.WeightName(m.Path, "lora_A"), m.Adapter.A),
                new KeyValuePair<string, Tensor>(PeftAdapter.WeightName(m.Path, "lora_B"), m.Adapter.B),
            })
            .OrderBy(p => p.Key, StringComparer.Ordinal).ToList();

    /// <summary>Number of trainable adapter weights.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>
    /// Attaches a new adapter to every projection <paramref name="config"/> targets and freezes the base model.
    /// A is drawn from <paramref name="seed"/>; B is zero, so the model's outputs are unchanged until it trains.
    /// <paramref name="dtype"/> defaults to float32 (float64 for a float64 model), as PEFT keeps adapters of a
    /// half-precision base in float32.
    /// </summary>
    public static LoraAdapter Inject(LlamaForCausalLM model, LoraConfig config, long seed = 0, ScalarType? dtype = null) =>
        Attach(model, config, seed, dtype, trainable: true);

    internal static LoraAdapter Attach(LlamaForCausalLM model, LoraConfig config, long seed, ScalarType? dtype, bool trainable)
    {
        config.Validate("LoRA config");
        if (model.Lora is not null) throw new InvalidOperationException("the model already has a LoRA adapter; merge or dispose it first");
        var adapterDtype = dtype ?? (model.Dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32);
        using var generator = new torch.Generator((ulong)seed);
        var modules = new List<Module>();
        var layers = model.Backbone.Layers;
        for (int i = 0; i < layers.Count; i++)
            foreach (var (block, slots) in layers[i].LoraBlocks)
                foreach (var (name, linear) in slots.Linears)
                {
                    var path = $"model.layers.{i}.{block}.{name}";
                    if (!config.Targets(path)) continue;
                    var weight = linear.weight!;
                    // An adapter loaded for inference draws no dropout; its config keeps the value it was trained with.
                    var adapter = new LoraLinear(weight.shape[1], weight.shape[0], config.R, config.Scaling,
                        trainable ? config.Dropout : 0, adapterDtype, generator);
                    if (!trainable) { adapter.A.requires_grad_(false); adapter.B.requires_grad_(false); }
                    modules.Add(new Module(path, slots, name, adapter));
                }
        if (modules.Count == 0)
        {
            var targets = config.TargetPattern ?? string.Join(", ", config.TargetModules);
            throw new InputException($"LoRA target_modules ({targets}) match no projection of the model; " +
                $"expected names among {string.Join(", ", LoraConfig.DecoderProjections)}");
        }
        var baseTrainable = model.parameters().Select(p => (p, p.requires_grad)).ToList();
        foreach (var (p, _) in baseTrainable) p.requires_grad_(false);
        foreach (var m in modules) m.Slots.Attach(m.Projection, m.Adapter);
        var result = new LoraAdapter(model, config, modules, baseTrainable);
        model.Lora = result;
        return result;
    }

    /// <summary>
    /// Adds every update into its base weight (<c>W += B·A·scaling</c>, accumulated in float32), detaches the adapter and
    /// gives the base parameters back their trainability: the model then computes what it computed with the adapter,
    /// in plain Hugging Face layout (PEFT's <c>merge_and_unload()</c>).
    /// </summary>
    public void MergeIntoBase()
    {
        if (!_attached) throw new InvalidOperationException("the adapter is no longer attached");
        foreach (var m in _modules) m.Adapter.MergeInto(m.Slots.Linears[m.Projection].weight!);
        Detach();
    }

    /// <summary>Removes the adapter without merging: the model is the base model again.</summary>
    public void Detach()
    {
        if (!_attached) return;
        foreach (var m in _modules) m.Slots.Attach(m.Projection, null);
        foreach (var (p, requiresGrad) in _baseTrainable) p.requires_grad_(requiresGrad);
        if (ReferenceEquals(_model.Lora, this)) _model.Lora = null;
        _attached = false;
    }

    /// <summary>Writes <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> (see <see cref="PeftAdapter.Save"/>).</summary>
    public void Save(string directory, string baseModelNameOrPath, string? revision = null) =>
        PeftAdapter.Save(this, directory, baseModelNameOrPath, revision);

    /// <summary>Detaches the adapter (without merging) and frees its weights.</summary>
    public void Dispose()
    {
        Detach();
        foreach (var m in _modules) m.Adapter.Dispose();
    }

    private sealed class Restore(Action restore) : IDisposable
    {
        private Action? _restore = restore;
        public void Dispose()
        {
            _restore?.Invoke();
            _restore = null;
        }
    }
}

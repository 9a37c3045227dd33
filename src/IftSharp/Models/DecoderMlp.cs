using IftSharp.Models.Lora;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>SwiGLU feed-forward: <c>down(silu(gate(x)) * up(x))</c>.</summary>
public sealed class DecoderMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;
    private readonly LoraSlots projections;

    public DecoderMlp(DecoderConfig config, ParameterAllocation? allocation = null) : base(nameof(DecoderMlp))
    {
        allocation ??= ParameterAllocation.Initialized;
        gate_proj = allocation.Linear(config.HiddenSize, config.IntermediateSize, hasBias: config.MlpBias);
        up_proj = allocation.Linear(config.HiddenSize, config.IntermediateSize, hasBias: config.MlpBias);
        down_proj = allocation.Linear(config.IntermediateSize, config.HiddenSize, hasBias: config.MlpBias);
        register_module("gate_proj", gate_proj);
        register_module("up_proj", up_proj);
        register_module("down_proj", down_proj);
        projections = new LoraSlots(("gate_proj", gate_proj), ("up_proj", up_proj), ("down_proj", down_proj));
    }

    /// <summary>gate/up/down and the LoRA adapters attached to them.</summary>
    public LoraSlots Projections => projections;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gated = nn.functional.silu(projections.Forward("gate_proj", x, training)) * projections.Forward("up_proj", x, training);
        return projections.Forward("down_proj", gated, training).MoveToOuterDisposeScope();
    }
}

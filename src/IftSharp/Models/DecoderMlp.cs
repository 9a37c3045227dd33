using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models;

/// <summary>SwiGLU feed-forward: <c>down(silu(gate(x)) * up(x))</c>.</summary>
public sealed class DecoderMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;

    public DecoderMlp(DecoderConfig config, ParameterAllocation? allocation = null) : base(nameof(DecoderMlp))
    {
        allocation ??= ParameterAllocation.Initialized;
        gate_proj = allocation.Linear(config.HiddenSize, config.IntermediateSize, hasBias: config.MlpBias);
        up_proj = allocation.Linear(config.HiddenSize, config.IntermediateSize, hasBias: config.MlpBias);
        down_proj = allocation.Linear(config.IntermediateSize, config.HiddenSize, hasBias: config.MlpBias);
        register_module("gate_proj", gate_proj);
        register_module("up_proj", up_proj);
        register_module("down_proj", down_proj);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}

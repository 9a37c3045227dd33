using IftSharp.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.FrozenLake;

/// <summary>The paper's two-layer fully connected policy: one-hot state → Linear → ReLU → Linear → 4 action logits.</summary>
public sealed class PolicyNetwork : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1;
    private readonly Linear fc2;

    public PolicyNetwork(int states, int hidden) : base(nameof(PolicyNetwork))
    {
        fc1 = nn.Linear(states, hidden, dtype: ScalarType.Float64);
        fc2 = nn.Linear(hidden, FrozenLakeMap.ActionCount, dtype: ScalarType.Float64);
        RegisterComponents();
    }

    /// <summary>Action logits [N, 4] for (possibly fused) state encodings [N, states].</summary>
    public override Tensor forward(Tensor x) => fc2.forward(nn.functional.relu(fc1.forward(x)));

    /// <summary>Weights drawn from a private generator: the same seed gives the same network whatever else uses the RNG.</summary>
    public static PolicyNetwork Create(int states, int hidden, ulong seed)
    {
        var net = new PolicyNetwork(states, hidden);
        var generator = new torch.Generator(seed);
        using var _ = no_grad();
        foreach (var (name, p) in net.named_parameters())
        {
            // PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
            double fanIn = name.StartsWith("fc1") ? states : hidden;
            double bound = 1 / Math.Sqrt(fanIn);
            p.copy_(rand(p.shape, dtype: ScalarType.Float64, generator: generator).Times(2).Times(bound).Minus(bound));
        }
        return net;
    }

    public PolicyNetwork Copy()
    {
        var copy = new PolicyNetwork((int)fc1.weight!.shape[1], (int)fc1.weight!.shape[0]);
        copy.load_state_dict(state_dict());
        return copy;
    }

    /// <summary>All parameters flattened into one vector (for the parameter-distance metric).</summary>
    public Tensor FlatParameters()
    {
        using var _ = no_grad();
        return cat(parameters().Select(p => p.detach().reshape(-1)).ToArray());
    }

    /// <summary>π(a|s) for every state, [S, 4].</summary>
    public Tensor Probabilities(int states)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return forward(eye(states, dtype: ScalarType.Float64)).softmax(-1).MoveToOuterDisposeScope();
    }
}

using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IftSharp.Models.Lora;

/// <summary>
/// A model under a LoRA adapter seen with the adapter turned off for each pass: the base model's outputs from the very
/// weights the policy uses, so a method's frozen reference costs no second copy (TRL takes a PEFT model's reference so,
/// under <c>disable_adapter()</c>). It owns nothing; the adapter is back on when each pass returns.
/// </summary>
public sealed class AdapterOffModel : ICausalLM
{
    private readonly LlamaForCausalLM _model;

    public AdapterOffModel(LlamaForCausalLM model)
    {
        if (model.Lora is null) throw new ArgumentException("the model has no LoRA adapter to turn off", nameof(model));
        _model = model;
    }

    /// <summary>The model whose weights this view reads.</summary>
    public LlamaForCausalLM Model => _model;

    public Embedding EmbedTokens => _model.EmbedTokens;

    public Tensor HeadWeight => _model.HeadWeight;

    public Tensor Head(Tensor hidden) => _model.Head(hidden); // the head is never adapted

    public Tensor ForwardHidden(Tensor inputsEmbeds, Tensor? attentionMask = null)
    {
        using var off = Off();
        return _model.ForwardHidden(inputsEmbeds, attentionMask);
    }

    public Tensor ForwardEmbeddings(Tensor inputsEmbeds, Tensor? attentionMask = null)
    {
        using var off = Off();
        return _model.ForwardEmbeddings(inputsEmbeds, attentionMask);
    }

    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var off = Off();
        return _model.Forward(inputIds, attentionMask);
    }

    /// <summary>The base model's parameters: the policy's own tensors, not copies.</summary>
    public IEnumerable<Parameter> parameters(bool recurse = true) => _model.parameters(recurse);

    private IDisposable Off() => (_model.Lora ?? throw new InvalidOperationException("the model's LoRA adapter was removed")).Disabled();
}

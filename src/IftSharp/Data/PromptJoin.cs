namespace IftSharp.Data;

/// <summary>
/// How a prompt-completion row's ids are put together when the prompt's tokens are not a prefix of the whole row's
/// (TRL warns and goes on; its trainers then differ). Either way the first <c>len(prompt_ids)</c> tokens are unlabelled.
/// </summary>
public enum PromptJoin
{
    /// <summary>The whole row's ids (TRL's SFTTrainer: <c>input_ids = prompt_completion_ids</c>).</summary>
    FullRender,

    /// <summary>The prompt's own ids, then the whole row's ids after that many (TRL's DPO and KTO trainers:
    /// <c>prompt_ids + prompt_completion_ids[len(prompt_ids):]</c>).</summary>
    PromptIdsThenRest,
}

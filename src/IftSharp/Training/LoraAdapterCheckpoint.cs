using IftSharp.Models.Lora;

namespace IftSharp.Training;

/// <summary>
/// Checkpoints a LoRA run: only the adapter, in PEFT's format (<c>adapter_config.json</c>, <c>adapter_model.safetensors</c>),
/// with the tokenizer files of the base folder, so a checkpoint (and the final folder) is what <c>generate --adapter</c>,
/// <c>merge</c> and PEFT's <c>PeftModel.from_pretrained</c> take. The frozen base is never written: it is the
/// <c>--model</c> folder, recorded as <c>base_model_name_or_path</c>. Restoring overwrites the run's own adapter.
/// </summary>
public sealed class LoraAdapterCheckpoint(LoraAdapter adapter, string baseModelNameOrPath, string? tokenizerDirectory = null)
    : IModelCheckpoint
{
    public void Save(string directory)
    {
        adapter.Save(directory, baseModelNameOrPath);
        if (tokenizerDirectory is not null) PretrainedModelCheckpoint.CopyTokenizerFiles(tokenizerDirectory, directory);
    }

    public void Load(string directory) => PeftAdapter.ReadWeights(adapter, directory);
}

#!/usr/bin/python3
"""Golden fixtures for IftSharp.Models.Lora: LoRA adapters in PEFT's on-disk layout for the tiny Llama-3 and Qwen2
checkpoints of make_model_fixtures.py, the logits of an independent float64 PyTorch forward of base + LoRA, and the
weights of an independent merge. PEFT is not installed here, so its layout is written by hand from PEFT's source
(src/peft/config.py, tuners/lora/{config,layer}.py, utils/save_and_load.py):
- adapter_config.json: the LoraConfig dataclass as json.dumps(..., indent=2, sort_keys=True), inference_mode true;
- adapter_model.safetensors: base_model.model.<module path>.lora_A.weight [r, in] and .lora_B.weight [out, r];
- forward: base(x) + lora_B(lora_A(dropout(x))) * scaling, scaling = lora_alpha / r (rsLoRA: lora_alpha / sqrt(r));
- init: lora_A kaiming_uniform_(a=sqrt(5)), lora_B zeros (here B is drawn at random, as after training);
- merge: W += B @ A * scaling, computed in float32 for half-precision weights.
The reference forward is make_model_fixtures.py's own, loaded from its source with each projection's
F.linear replaced by one that adds that projection's LoRA update.
Run: /usr/bin/python3 tests/IftSharp.Tests/Fixtures/tools/make_lora_fixtures.py"""
import json, math, os
import torch
import torch.nn.functional as F

from reference_model import load_reference, read_safetensors, replace_once

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "models")

NAMES, LORA = {}, {}


def with_lora(body):
    """reference_logits with every projection through lora_linear and NAMES filled with the float64 weights' names."""
    patched = body.replace("torch.nn.functional.linear(", "lora_linear(")
    assert patched.count("lora_linear(") == 5, "every projection of the reference forward goes through lora_linear"
    return replace_once(patched, '    w = {k: t.double() for k, t in w.items()}\n',
                        '    w = {k: t.double() for k, t in w.items()}\n'
                        '    NAMES.clear(); NAMES.update({id(t): k for k, t in w.items()})\n')


def lora_linear(x, weight, bias=None):
    """F.linear plus the LoRA update of the projection whose weight this is (float64)."""
    y = F.linear(x, weight, bias)
    module = NAMES[id(weight)][: -len(".weight")]
    if module in LORA:
        a, b, scaling = LORA[module]
        y = y + F.linear(F.linear(x, a.double()), b.double()) * scaling
    return y


ns = load_reference(patch_forward=with_lora, lora_linear=lora_linear, NAMES=NAMES)


def module_shapes(cfg):
    """(module path, in_features, out_features) of every decoder projection, in layer order."""
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    nh, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", h // nh)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        yield p + "self_attn.q_proj", h, nh * d
        yield p + "self_attn.k_proj", h, kv * d
        yield p + "self_attn.v_proj", h, kv * d
        yield p + "self_attn.o_proj", nh * d, h
        yield p + "mlp.gate_proj", h, i
        yield p + "mlp.up_proj", h, i
        yield p + "mlp.down_proj", i, h


def adapter_config(base, r, alpha, dropout, targets, rslora):
    """PEFT's LoraConfig fields IftSharp writes (PEFT's save_pretrained sets inference_mode True)."""
    return {
        "alpha_pattern": {}, "base_model_name_or_path": base, "bias": "none", "fan_in_fan_out": False,
        "inference_mode": True, "init_lora_weights": True, "lora_alpha": alpha, "lora_dropout": dropout,
        "modules_to_save": None, "peft_type": "LORA", "r": r, "rank_pattern": {}, "revision": None,
        "target_modules": sorted(targets), "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": rslora,
    }


def make(name, base, r, alpha, dropout, targets, rslora, adapter_dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    base_dir = os.path.join(MODELS, base)
    folder = os.path.join(MODELS, name)
    os.makedirs(folder, exist_ok=True)
    cfg = json.load(open(os.path.join(base_dir, "config.json")))
    w = read_safetensors(os.path.join(base_dir, "model.safetensors"))
    scaling = alpha / math.sqrt(r) if rslora else alpha / r
    LORA.clear()
    tensors = {}
    for path, fan_in, fan_out in module_shapes(cfg):
        if path.rsplit(".", 1)[1] not in targets: continue
        bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) on [r, in]
        a = (torch.rand(r, fan_in, generator=gen) * 2 - 1) * bound
        b = torch.randn(fan_out, r, generator=gen) * 0.3
        a, b = a.to(adapter_dtype), b.to(adapter_dtype)
        tensors[f"base_model.model.{path}.lora_A.weight"] = a
        tensors[f"base_model.model.{path}.lora_B.weight"] = b
        LORA[path] = (a, b, scaling)
    ns["write_safetensors"](os.path.join(folder, "adapter_model.safetensors"), tensors)
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        f.write(json.dumps(adapter_config(base, r, alpha, dropout, targets, rslora), indent=2, sort_keys=True))

    v, t, pad = cfg["vocab_size"], 8, 2
    ids = torch.randint(4, v, (2, t), generator=gen)
    mask = torch.ones(2, t, dtype=torch.int64)
    ids[1, :pad] = 0  # row 1 is left-padded
    mask[1, :pad] = 0
    logits = ns["reference_logits"](cfg, w, ids, mask)
    adapters = dict(LORA)
    LORA.clear()
    base_logits = ns["reference_logits"](cfg, w, ids, mask)
    assert (logits - base_logits).abs().max() > 0.1, "the adapter must change the logits for the test to mean anything"

    # The merge: W + B @ A * scaling, in float32 for half-precision weights, rounded once to W's dtype.
    merged = {}
    for path, (a, b, s) in adapters.items():
        weight = w[path + ".weight"]
        merged[path + ".weight"] = (weight.float() + (b.float() @ a.float()) * s).to(weight.dtype)
    ns["write_safetensors"](os.path.join(folder, "merged.safetensors"), merged)
    # The merged model computes what base + adapter computes (float64, from the merged weights as stored).
    LORA.clear()
    merged_logits = ns["reference_logits"](cfg, {**w, **merged}, ids, mask)
    half = w[next(iter(adapters)) + ".weight"].dtype != torch.float32
    assert (merged_logits - logits).abs().max() < (0.05 if half else 1e-4)

    rounded = lambda x: [[[round(float(z), 7) for z in row] for row in seq] for seq in x]
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
                   "logits": rounded(logits), "base_logits": rounded(base_logits)}, f)


ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Llama-3 style, float32 base: every projection, r 4, alpha 8 (= 2r, IftSharp's default), dropout 0.05.
make("tiny-llama3-lora", "tiny-llama3", r=4, alpha=8, dropout=0.05, targets=ALL, rslora=False, adapter_dtype=torch.float32, seed=11)
# Qwen2 style, bfloat16 base with q/k/v biases: three projections, rsLoRA, alpha 3, adapter weights stored in bfloat16.
make("tiny-qwen2-lora", "tiny-qwen2", r=2, alpha=3, dropout=0.0, targets=["q_proj", "v_proj", "down_proj"], rslora=True,
     adapter_dtype=torch.bfloat16, seed=12)
print("fixtures written to", os.path.normpath(MODELS))

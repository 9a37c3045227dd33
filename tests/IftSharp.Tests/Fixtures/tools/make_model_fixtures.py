#!/usr/bin/python3
"""Golden fixtures for IftSharp.Models: tiny random Llama-3-style and Qwen2-style checkpoints and the logits an
independent float64 PyTorch forward pass gives for them. Written from Hugging Face's model definitions
(LlamaRMSNorm, rotate_half RoPE with llama3 scaling, GQA via repeat_interleave, SwiGLU, tied/untied head);
the safetensors files are written here with struct/json, independently of IftSharp's writer.
Run: /usr/bin/python3 tests/IftSharp.Tests/Fixtures/tools/make_model_fixtures.py"""
import json, math, os, struct
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")

LLAMA = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 48, "intermediate_size": 96,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0, "max_position_embeddings": 256, "tie_word_embeddings": True,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 16},
    "attention_bias": False, "mlp_bias": False, "hidden_act": "silu", "vocab_size": 160,
    "bos_token_id": 1, "eos_token_id": [2, 3], "torch_dtype": "float32",
}
QWEN2 = {
    "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0, "max_position_embeddings": 128, "tie_word_embeddings": False,
    "hidden_act": "silu", "vocab_size": 120, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
}
QWEN3 = {
    "model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "hidden_size": 32, "intermediate_size": 48,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0, "max_position_embeddings": 128, "tie_word_embeddings": True, "attention_bias": False,
    "rope_scaling": {"rope_type": "linear", "factor": 2.0},
    "hidden_act": "silu", "vocab_size": 100, "bos_token_id": None, "eos_token_id": 2, "torch_dtype": "float16",
}

DTYPES = {torch.float32: ("F32", "<f4"), torch.bfloat16: ("BF16", None), torch.float16: ("F16", "<f2")}


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        code, _ = DTYPES[t.dtype]
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes() if t.dtype == torch.bfloat16 else \
            t.numpy().astype(DTYPES[t.dtype][1]).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def random_weights(cfg, gen, dtype):
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", h // nh)
    qkv_bias = cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)
    w = {"model.embed_tokens.weight": torch.randn(v, h, generator=gen) * 0.5,
         "model.norm.weight": 1 + 0.1 * torch.randn(h, generator=gen)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = torch.randn(v, h, generator=gen) * 0.2
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(h, generator=gen)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(h, generator=gen)
        for name, rows in (("q_proj", nh * d), ("k_proj", kv * d), ("v_proj", kv * d)):
            w[p + f"self_attn.{name}.weight"] = torch.randn(rows, h, generator=gen) * 0.2
            if qkv_bias:
                w[p + f"self_attn.{name}.bias"] = torch.randn(rows, generator=gen) * 0.2
        w[p + "self_attn.o_proj.weight"] = torch.randn(h, nh * d, generator=gen) * 0.2
        if cfg["model_type"] == "qwen3":
            w[p + "self_attn.q_norm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
            w[p + "self_attn.k_norm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
        w[p + "mlp.gate_proj.weight"] = torch.randn(i, h, generator=gen) * 0.2
        w[p + "mlp.up_proj.weight"] = torch.randn(i, h, generator=gen) * 0.2
        w[p + "mlp.down_proj.weight"] = torch.randn(h, i, generator=gen) * 0.2
    return {k: t.to(dtype) for k, t in w.items()}


def inv_freq(cfg):
    d = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type") == "llama3":
        factor, low, high, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        inv = torch.where(medium, smoothed, scaled)
    if rs and rs.get("rope_type") == "linear":
        inv = inv / rs["factor"]
    return inv.double()


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), -1)


def reference_logits(cfg, w, ids, mask):
    """float64 forward; positions = cumsum(mask) - 1 so left padding does not shift them; padded keys masked."""
    w = {k: t.double() for k, t in w.items()}
    b, t = ids.shape
    nh, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", cfg["hidden_size"] // nh)
    eps = cfg["rms_norm_eps"]
    pos = (mask.cumsum(-1) - 1).clamp(min=0).double()
    freqs = pos[..., None] * inv_freq(cfg)
    emb = torch.cat((freqs, freqs), -1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    allowed = torch.tril(torch.ones(t, t, dtype=torch.bool))[None] & mask.bool()[:, None, :]
    x = w["model.embed_tokens.weight"][ids]
    bias = lambda name: w.get(name)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        hn = rms(x, w[p + "input_layernorm.weight"], eps)
        proj = lambda n: torch.nn.functional.linear(hn, w[p + f"self_attn.{n}.weight"], bias(p + f"self_attn.{n}.bias"))
        q = proj("q_proj").view(b, t, nh, d)
        k = proj("k_proj").view(b, t, kv, d)
        if cfg["model_type"] == "qwen3":  # Qwen3 normalises each query/key head before the rotation
            q = rms(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = proj("v_proj").view(b, t, kv, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // kv, 1)
        v = v.repeat_interleave(nh // kv, 1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        probs = torch.nan_to_num(scores.softmax(-1))  # fully padded query rows: irrelevant, keep finite
        att = (probs @ v).transpose(1, 2).reshape(b, t, nh * d)
        x = x + torch.nn.functional.linear(att, w[p + "self_attn.o_proj.weight"], bias(p + "self_attn.o_proj.bias"))
        hn = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.linear(hn, w[p + "mlp.gate_proj.weight"])
        up = torch.nn.functional.linear(hn, w[p + "mlp.up_proj.weight"])
        x = x + torch.nn.functional.linear(torch.nn.functional.silu(gate) * up, w[p + "mlp.down_proj.weight"])
    x = rms(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


def make(name, cfg, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    w = random_weights(cfg, gen, dtype)
    write_safetensors(os.path.join(folder, "model.safetensors"), w)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    v, t, pad = cfg["vocab_size"], 9, 3
    ids = torch.randint(4, v, (2, t), generator=gen)
    mask = torch.ones(2, t, dtype=torch.int64)
    ids[1, :pad] = 0  # row 1 is left-padded
    mask[1, :pad] = 0
    logits = reference_logits(cfg, w, ids, mask)
    unpadded = reference_logits(cfg, w, ids[1:, pad:], mask[1:, pad:])
    assert torch.allclose(logits[1, pad:], unpadded[0], atol=1e-9), "left padding must not change real positions"
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
                   "logits": [[[round(float(z), 7) for z in row] for row in seq] for seq in logits]}, f)


make("tiny-llama3", LLAMA, torch.float32, 1234)
make("tiny-qwen2", QWEN2, torch.bfloat16, 4321)
make("tiny-qwen3", QWEN3, torch.float16, 999)
print("fixtures written to", os.path.normpath(OUT))

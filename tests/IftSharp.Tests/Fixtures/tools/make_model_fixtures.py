#!/usr/bin/python3
"""Golden fixtures for IftSharp.Models: tiny random Llama-3-style and Qwen2-style checkpoints and the logits an
independent float64 PyTorch forward pass gives for them. Written from Hugging Face's model definitions
(LlamaRMSNorm, rotate_half RoPE with llama3 scaling, GQA via repeat_interleave, SwiGLU, tied/untied head);
the safetensors files are written here with struct/json, independently of IftSharp's writer. Also: sliding-window
attention (transformers' masking: key k visible to query q when k <= q and k > q - window, on sequence indices; Mistral
in every layer, Qwen2 only with use_sliding_window and from max_window_layers on) and the dynamic (stateful, as
transformers 4.x's dynamic_rope_update) and yarn (as transformers' _compute_yarn_parameters) RoPE scalings.
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


def rope_type(cfg):
    rs = cfg.get("rope_scaling") or {}
    return rs.get("rope_type", rs.get("type", "default"))  # older configs spell it "type"


def inv_freq(cfg):
    d = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    rs = cfg.get("rope_scaling")
    if rope_type(cfg) == "llama3":
        factor, low, high, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        inv = torch.where(medium, smoothed, scaled)
    if rope_type(cfg) == "linear":
        inv = inv / rs["factor"]
    if rope_type(cfg) == "yarn":
        inv = yarn_inv_freq(cfg)[0]
    return inv.double()


def head_dim(cfg):
    return cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])


def dynamic_inv_freq(cfg, seq_len):
    """transformers' _compute_dynamic_ntk_parameters with a tensor length (as its forward passes it): float32 math."""
    d, rs, max_pos = head_dim(cfg), cfg["rope_scaling"], cfg["max_position_embeddings"]
    seq_len = torch.maximum(torch.tensor(seq_len), torch.tensor(max_pos))
    base = cfg["rope_theta"] * ((rs["factor"] * seq_len / max_pos) - (rs["factor"] - 1)) ** (d / (d - 2))
    return (1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))).double()


class DynamicRope:
    """The state transformers 4.x keeps for dynamic RoPE: grow past the longest length seen, reset below the original."""

    def __init__(self, cfg):
        self.cfg, self.original = cfg, cfg["max_position_embeddings"]
        self.cached = self.original
        self.original_inv = dynamic_inv_freq(cfg, self.original)
        self.inv = self.original_inv

    def update(self, positions):
        seq_len = int(positions.max()) + 1
        if seq_len > self.cached:
            self.inv, self.cached = dynamic_inv_freq(self.cfg, seq_len), seq_len
        if seq_len < self.original and self.cached > self.original:
            self.inv, self.cached = self.original_inv, self.original
        return self.inv


def yarn_inv_freq(cfg):
    """transformers' _compute_yarn_parameters (factor as given; original_max_position_embeddings or max_position_embeddings)."""
    d, rs, base = head_dim(cfg), cfg["rope_scaling"], cfg["rope_theta"]
    factor = rs["factor"]
    original = rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]

    def get_mscale(scale, m=1):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attention = rs.get("attention_factor")
    if attention is None:
        if rs.get("mscale") and rs.get("mscale_all_dim"):
            attention = get_mscale(factor, rs["mscale"]) / get_mscale(factor, rs["mscale_all_dim"])
        else:
            attention = get_mscale(factor)
    beta_fast, beta_slow = rs.get("beta_fast") or 32, rs.get("beta_slow") or 1

    def correction_dim(rotations):
        return (d * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if rs.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, d - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(d // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = base ** (torch.arange(0, d, 2).float() / d)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    extrapolation_factor = 1 - ramp
    inv = interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor
    return inv, attention


def layer_window(cfg, layer):
    """The window transformers gives a layer: Mistral's sliding_window everywhere; Qwen2/3 only when enabled."""
    if cfg["model_type"] == "mistral":
        return cfg.get("sliding_window")
    if cfg["model_type"] in ("qwen2", "qwen3") and cfg.get("use_sliding_window") and cfg.get("sliding_window"):
        return cfg["sliding_window"] if layer >= cfg.get("max_window_layers", 28) else None
    return None


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), -1)


def reference_logits(cfg, w, ids, mask, inv=None):
    """float64 forward; positions = cumsum(mask) - 1 so left padding does not shift them; padded keys masked.
    inv: the inverse frequencies to use (dynamic RoPE's current ones); yarn multiplies cos and sin by its factor."""
    w = {k: t.double() for k, t in w.items()}
    b, t = ids.shape
    nh, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim", cfg["hidden_size"] // nh)
    eps = cfg["rms_norm_eps"]
    pos = (mask.cumsum(-1) - 1).clamp(min=0).double()
    freqs = pos[..., None] * (inv_freq(cfg) if inv is None else inv)
    emb = torch.cat((freqs, freqs), -1)
    scale = yarn_inv_freq(cfg)[1] if rope_type(cfg) == "yarn" else 1.0
    cos, sin = emb.cos()[:, None] * scale, emb.sin()[:, None] * scale
    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))[None] & mask.bool()[:, None, :]
    index = torch.arange(t)
    x = w["model.embed_tokens.weight"][ids]
    bias = lambda name: w.get(name)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        window = layer_window(cfg, l)
        allowed = causal if window is None else causal & (index[None, :] > index[:, None] - window)[None]
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


def new_checkpoint(name, cfg, dtype, seed):
    """A fixture folder with random weights (model.safetensors) and config.json: the folder, the weights and the
    generator that drew them, which then draws the inputs."""
    gen = torch.Generator().manual_seed(seed)
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    w = random_weights(cfg, gen, dtype)
    write_safetensors(os.path.join(folder, "model.safetensors"), w)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return folder, w, gen


def rounded(logits):
    """A tensor of logits as nested lists of floats rounded to 7 decimals, as expected.json stores them."""
    return [rounded(z) for z in logits] if logits.dim() > 0 else round(float(logits), 7)


def make(name, cfg, dtype, seed):
    folder, w, gen = new_checkpoint(name, cfg, dtype, seed)
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
                   "logits": rounded(logits)}, f)


def make_window(name, cfg, seed, t=13, pad=2):
    """A sequence longer than the window; row 1 left-padded. Also the logits with every window removed."""
    folder, w, gen = new_checkpoint(name, cfg, torch.float32, seed)
    ids = torch.randint(4, cfg["vocab_size"], (2, t), generator=gen)
    mask = torch.ones(2, t, dtype=torch.int64)
    ids[1, :pad] = 0
    mask[1, :pad] = 0
    windowed = reference_logits(cfg, w, ids, mask)
    unwindowed = reference_logits({**cfg, "model_type": "llama"} if cfg["model_type"] == "mistral"
                                  else {**cfg, "use_sliding_window": False}, w, ids, mask)
    assert (windowed - unwindowed).abs().max() > 1e-3, "the window must change the logits"
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "logits": rounded(windowed),
                   "logits_without_window": rounded(unwindowed)}, f)


def make_rope(name, cfg, seed, lengths):
    """One sequence per forward call, in order (dynamic RoPE carries state from call to call)."""
    folder, w, gen = new_checkpoint(name, cfg, torch.float32, seed)
    dynamic = DynamicRope(cfg) if rope_type(cfg) == "dynamic" else None
    calls = []
    for t in lengths:
        ids = torch.randint(4, cfg["vocab_size"], (1, t), generator=gen)
        mask = torch.ones(1, t, dtype=torch.int64)
        inv = dynamic.update(torch.arange(t)) if dynamic else None
        logits = reference_logits(cfg, w, ids, mask, inv)
        used = inv if inv is not None else inv_freq(cfg)
        calls.append({"input_ids": ids.tolist(), "inv_freq": [float(v) for v in used],
                      "logits": rounded(logits[0])})
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"calls": calls}, f)


MISTRAL_WINDOW = {
    "model_type": "mistral", "architectures": ["MistralForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0, "max_position_embeddings": 64, "sliding_window": 4, "tie_word_embeddings": False,
    "hidden_act": "silu", "vocab_size": 90, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
}
QWEN2_WINDOW = {
    "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 32, "intermediate_size": 48,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0, "max_position_embeddings": 64, "use_sliding_window": True, "sliding_window": 3,
    "max_window_layers": 1, "tie_word_embeddings": True, "hidden_act": "silu", "vocab_size": 80,
    "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
}
LLAMA_DYNAMIC = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0, "max_position_embeddings": 8, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0},
    "tie_word_embeddings": True, "hidden_act": "silu", "vocab_size": 70, "bos_token_id": 1, "eos_token_id": 2,
    "torch_dtype": "float32",
}
QWEN2_YARN = {
    "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 32, "intermediate_size": 48,
    "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0, "max_position_embeddings": 256,
    "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64},
    "tie_word_embeddings": False, "hidden_act": "silu", "vocab_size": 70, "bos_token_id": 1, "eos_token_id": 2,
    "torch_dtype": "float32",
}
LLAMA_YARN = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
    "rope_theta": 500.0, "max_position_embeddings": 128,
    "rope_scaling": {"rope_type": "yarn", "factor": 8.0, "beta_fast": 8.0, "beta_slow": 2.0, "truncate": False,
                     "mscale": 1.0, "mscale_all_dim": 0.5},
    "tie_word_embeddings": True, "hidden_act": "silu", "vocab_size": 70, "bos_token_id": 1, "eos_token_id": 2,
    "torch_dtype": "float32",
}

make("tiny-llama3", LLAMA, torch.float32, 1234)
make("tiny-qwen2", QWEN2, torch.bfloat16, 4321)
make("tiny-qwen3", QWEN3, torch.float16, 999)
make_window("tiny-mistral-window", MISTRAL_WINDOW, 77)
make_window("tiny-qwen2-window", QWEN2_WINDOW, 78)
# 6: original frequencies; 14: grown for 14; 11: keeps 14's; 5: back to the original; 9: grown for 9
make_rope("tiny-llama-dynamic", LLAMA_DYNAMIC, 79, [6, 14, 11, 5, 9])
make_rope("tiny-qwen2-yarn", QWEN2_YARN, 80, [20])
make_rope("tiny-llama-yarn", LLAMA_YARN, 81, [12])
print("fixtures written to", os.path.normpath(OUT))

"""The real-shape training step of `iftsharp bench --model-config`, in Python PyTorch eager, for the comparison.

Run with Debian's python3-torch:
    /usr/bin/python3 bench/pytorch_real_shape.py --config CONFIG.json [--method sft|ift|dpo] [--batch 4] [--length 512]
        [--steps 3] [--bf16] [--threads N]
Prints one JSON line: seconds per step (the median of the steps after the first), tokens/s and the process's peak
resident memory. The model is a Llama-family decoder (llama, mistral, qwen2, qwen3) built from the config's own fields:
RMSNorm, RoPE, grouped-query attention (eager softmax attention where torch has no scaled_dot_product_attention), q/k/v
bias where the config has it, Qwen3's q/k norms, SwiGLU, tied embeddings; random weights (normal(0,
initializer_range)). RoPE scaling changes the frequencies, not the cost, so the plain form is used. Each sequence is
`--length` random tokens whose first 32 are the prompt (no loss), as the IftSharp bench's data. AdamW, float32 master
weights; `--bf16` runs forward and backward under torch.autocast(cpu, bfloat16). It is a benchmark, not a reference
implementation.
- sft: mean NLL of the completion tokens.
- ift: a no-grad pass for the greedy predictions, the fused embedding (1-lambda) E(s*) + lambda E(s_hat) on the
  completion positions, the loss of the pass on it weighted by the discounted sum of later tokens' losses (gamma 0.95).
- dpo: chosen and rejected in one pass of 2B rows, summed log-probs, reference log-probs computed once before the
  first step (as --precompute-ref-logps), sigmoid loss with beta 0.1.
"""
import argparse, json, math, resource, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--config", required=True)
p.add_argument("--method", default="sft", choices=["sft", "ift", "dpo"])
p.add_argument("--batch", type=int, default=4)
p.add_argument("--length", type=int, default=512)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--bf16", action="store_true")
p.add_argument("--threads", type=int, default=0)
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)
cfg = json.load(open(a.config))
D = cfg["hidden_size"]; H = cfg["num_attention_heads"]; KV = cfg.get("num_key_value_heads") or H
HD = cfg.get("head_dim") or D // H; FF = cfg["intermediate_size"]; V = cfg["vocab_size"]; L = cfg["num_hidden_layers"]
EPS = cfg.get("rms_norm_eps", 1e-6); THETA = cfg.get("rope_theta", 10000.0); TYPE = cfg.get("model_type", "llama")
QKV_BIAS = cfg.get("attention_bias", TYPE == "qwen2"); QK_NORM = TYPE == "qwen3"; TIED = cfg.get("tie_word_embeddings", False)
PROMPT = 32


class RMSNorm(nn.Module):
    def __init__(s, d):
        super().__init__(); s.weight = nn.Parameter(torch.ones(d))

    def forward(s, x):
        xf = x.float()
        return s.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS)).to(x.dtype)


def rope(x, cos, sin):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return x * cos + torch.cat((-x2, x1), -1) * sin


def attention(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):  # torch >= 2.0
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    T = q.shape[-2]  # Debian 12's torch 1.13 has no fused attention: the eager equivalent
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return scores.softmax(-1) @ v


class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.q = nn.Linear(D, H * HD, bias=QKV_BIAS); s.k = nn.Linear(D, KV * HD, bias=QKV_BIAS)
        s.v = nn.Linear(D, KV * HD, bias=QKV_BIAS); s.o = nn.Linear(H * HD, D, bias=False)
        s.gate = nn.Linear(D, FF, bias=False); s.up = nn.Linear(D, FF, bias=False); s.down = nn.Linear(FF, D, bias=False)
        s.n1 = RMSNorm(D); s.n2 = RMSNorm(D)
        if QK_NORM:
            s.qn = RMSNorm(HD); s.kn = RMSNorm(HD)

    def forward(s, x, cos, sin):
        B, T, _ = x.shape
        y = s.n1(x)
        q = s.q(y).view(B, T, H, HD).transpose(1, 2)
        k = s.k(y).view(B, T, KV, HD).transpose(1, 2)
        v = s.v(y).view(B, T, KV, HD).transpose(1, 2)
        if QK_NORM:
            q, k = s.qn(q), s.kn(k)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k = k.repeat_interleave(H // KV, dim=1); v = v.repeat_interleave(H // KV, dim=1)
        x = x + s.o(attention(q, k, v).transpose(1, 2).reshape(B, T, H * HD))
        y = s.n2(x)
        return x + s.down(F.silu(s.gate(y)) * s.up(y))


class LM(nn.Module):
    def __init__(s):
        super().__init__()
        s.embed = nn.Embedding(V, D)
        s.blocks = nn.ModuleList(Block() for _ in range(L))
        s.norm = RMSNorm(D)
        s.head = None if TIED else nn.Linear(D, V, bias=False)
        inv = 1.0 / (THETA ** (torch.arange(0, HD, 2).float() / HD))
        f = torch.outer(torch.arange(a.length).float(), inv); emb = torch.cat((f, f), -1)
        s.register_buffer("cos", emb.cos()); s.register_buffer("sin", emb.sin())

    def forward(s, x):  # x: input embeddings [B, T, D]
        for b in s.blocks:
            x = b(x, s.cos.to(x.dtype), s.sin.to(x.dtype))
        return F.linear(s.norm(x), s.embed.weight if s.head is None else s.head.weight)


model = LM()
with torch.no_grad():
    for name, w in model.named_parameters():
        if name.endswith("norm.weight") or ".n1." in name or ".n2." in name or ".qn." in name or ".kn." in name:
            w.fill_(1.0)
        elif name.endswith(".bias"):
            w.zero_()
        else:
            w.normal_(0.0, cfg.get("initializer_range", 0.02))
opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
rows = a.batch * (2 if a.method == "dpo" else 1)
ids = torch.randint(0, V, (rows, a.length))
labels = ids.clone(); labels[:, :PROMPT] = -100
mask = (labels[:, 1:] != -100).float()


def autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16)


def token_nll(logits):  # per-token NLL of the shifted labels, float32, 0 where masked
    nll = F.cross_entropy(logits[:, :-1].float().reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100,
                          reduction="none")
    return nll.view(rows, -1)


def ift_loss(gamma=0.95, lam=0.2):
    with torch.no_grad(), autocast():
        guess = model(model.embed(ids)).argmax(-1)  # the model's greedy prediction of each next token
    shifted = torch.cat((ids[:, :1], guess[:, :-1]), 1)
    fused_ids = torch.where(labels != -100, shifted, ids)
    with autocast():
        emb = model.embed(ids); fused = (1 - lam) * emb + lam * model.embed(fused_ids)
        nll = token_nll(model(fused)) * mask
    T = nll.shape[1]
    t = torch.arange(T)
    powers = torch.where(t[None, :] >= t[:, None], gamma ** (t[None, :] - t[:, None]).clamp(min=0).float(),
                         torch.zeros(T, T))
    n = mask.sum(1, keepdim=True)
    c = (nll @ powers.T) / n
    w = c * n / c.sum(1, keepdim=True)
    return ((nll * w).sum(1) / n.squeeze(1)).mean()


def sequence_logps():
    with autocast():
        return -(token_nll(model(model.embed(ids))) * mask).sum(1)


reference = None
if a.method == "dpo":
    with torch.no_grad():
        reference = sequence_logps()


def step():
    opt.zero_grad(set_to_none=True)
    if a.method == "sft":
        with autocast():
            loss = (token_nll(model(model.embed(ids))) * mask).sum() / mask.sum()
    elif a.method == "ift":
        loss = ift_loss()
    else:
        logps = sequence_logps()
        ratio = (logps - reference).view(2, a.batch)
        loss = -F.logsigmoid(0.1 * (ratio[0] - ratio[1])).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


times = []
for _ in range(a.steps):
    t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
med = statistics.median(times[1:]) if len(times) > 1 else times[0]
print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "method": a.method, "bf16": a.bf16, "step_seconds": times, "median_step_seconds": med,
                  "tokens_per_second": rows * a.length / med,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))

"""The same SFT optimizer step as `iftsharp bench`, written in Python PyTorch, for the speed comparison.

Run with Debian's python3-torch (install libopenblas0-pthread too):
    /usr/bin/python3 bench/pytorch_sft_step.py [--layers 4 --hidden 256 --seq 256 --batch 8 --repeats 10]
Prints one JSON line. A Llama-style decoder (RMSNorm, RoPE, attention through SDPA where the torch version has it, SwiGLU, tied
embeddings), float32, AdamW; it is a benchmark, not a reference implementation.
"""
import argparse, json, math, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--layers", type=int, default=4); p.add_argument("--hidden", type=int, default=256)
p.add_argument("--heads", type=int, default=4); p.add_argument("--intermediate", type=int, default=688)
p.add_argument("--vocab", type=int, default=4096); p.add_argument("--seq", type=int, default=256)
p.add_argument("--batch", type=int, default=8); p.add_argument("--repeats", type=int, default=10)
p.add_argument("--warmup", type=int, default=3); p.add_argument("--threads", type=int, default=0)
a = p.parse_args()
if a.threads: torch.set_num_threads(a.threads)
torch.manual_seed(0)

class RMSNorm(nn.Module):
    def __init__(s, d): super().__init__(); s.weight = nn.Parameter(torch.ones(d))
    def forward(s, x): return s.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))

def rope(x, cos, sin):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return x * cos + torch.cat((-x2, x1), -1) * sin

def attention(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):  # torch >= 2.0
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # Debian 12's torch 1.13 has no fused attention: the eager equivalent.
    T = q.shape[-2]
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return scores.softmax(-1) @ v

class Block(nn.Module):
    def __init__(s, d, h, f):
        super().__init__(); s.h = h
        s.q = nn.Linear(d, d, bias=False); s.k = nn.Linear(d, d, bias=False)
        s.v = nn.Linear(d, d, bias=False); s.o = nn.Linear(d, d, bias=False)
        s.gate = nn.Linear(d, f, bias=False); s.up = nn.Linear(d, f, bias=False); s.down = nn.Linear(f, d, bias=False)
        s.n1 = RMSNorm(d); s.n2 = RMSNorm(d)
    def forward(s, x, cos, sin):
        B, T, D = x.shape; hd = D // s.h
        y = s.n1(x)
        q, k, v = (m(y).view(B, T, s.h, hd).transpose(1, 2) for m in (s.q, s.k, s.v))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        att = attention(q, k, v).transpose(1, 2).reshape(B, T, D)
        x = x + s.o(att)
        y = s.n2(x)
        return x + s.down(F.silu(s.gate(y)) * s.up(y))

class LM(nn.Module):
    def __init__(s):
        super().__init__()
        s.embed = nn.Embedding(a.vocab, a.hidden)
        s.blocks = nn.ModuleList(Block(a.hidden, a.heads, a.intermediate) for _ in range(a.layers))
        s.norm = RMSNorm(a.hidden)
        hd = a.hidden // a.heads
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        f = torch.outer(torch.arange(a.seq).float(), inv); emb = torch.cat((f, f), -1)
        s.register_buffer("cos", emb.cos()); s.register_buffer("sin", emb.sin())
    def forward(s, ids):
        x = s.embed(ids)
        for b in s.blocks: x = b(x, s.cos, s.sin)
        return F.linear(s.norm(x), s.embed.weight)

model = LM()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
ids = torch.randint(0, a.vocab, (a.batch, a.seq))
def step():
    opt.zero_grad(set_to_none=True)
    logits = model(ids)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, a.vocab).float(), ids[:, 1:].reshape(-1))
    loss.backward(); opt.step()
for _ in range(a.warmup): step()
times = []
for _ in range(a.repeats):
    t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
med = statistics.median(times)
print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "median_step_seconds": med, "min_step_seconds": min(times), "tokens_per_second": a.batch * a.seq / med}))

#!/usr/bin/python3
"""First-step losses of every training method on the tiny Llama-3-style checkpoint (models/tiny-llama3), computed with
the independent float64 PyTorch forward of make_model_fixtures.py (loaded from its source and given an inputs_embeds
entry for IFT's fused pass) and the objectives written out here from the official IFT/EXO code and TRL.
Run: /usr/bin/python3 tests/IftSharp.Tests/Fixtures/tools/make_method_fixtures.py  -> ../methods/first_step.json"""
import json, math, os
import torch
import torch.nn.functional as F

from reference_model import HERE, load_reference, read_safetensors, token_logps

ns = load_reference(inputs_embeds=True)

folder = os.path.join(HERE, "..", "models", "tiny-llama3")
cfg = json.load(open(os.path.join(folder, "config.json")))
w = read_safetensors(os.path.join(folder, "model.safetensors"))
E = w["model.embed_tokens.weight"].double()
gen = torch.Generator().manual_seed(77)
B, T, P = 4, 10, 4
ids = torch.randint(4, cfg["vocab_size"], (B, T), generator=gen)
mask = torch.ones(B, T, dtype=torch.int64)
mask[3, 7:] = 0; ids[3, 7:] = 0                      # row 3 is right-padded
labels = ids.clone(); labels[:, :P] = -100; labels[mask == 0] = -100

logits = ns["reference_logits"](cfg, w, ids, mask)
lp, m = token_logps(logits, labels)
out = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "labels": labels.tolist()}
out["sft"] = float(-(lp * m).sum() / m.sum())

# IFT, official: greedy one-step-ahead tokens from pass 1, fused embedding, weights from the grad-carrying pass 2.
lam, gamma = 0.2, 0.95
pred = logits.argmax(-1)
further = torch.cat([ids[:, :1], pred[:, :-1]], 1)
ids_hat = torch.where(labels == -100, ids, further)
fused = (1 - lam) * E[ids] + lam * E[ids_hat]
lp2, m2 = token_logps(ns["reference_logits"](cfg, w, ids, mask, embeds=fused), labels)
rows = []
for b in range(B):
    n = m2[b].sum(); nll = -lp2[b]
    c = [0.0] * (T - 1); acc = 0.0
    for t in reversed(range(T - 1)):
        acc = (nll[t] / n if m2[b, t] else 0.0) + gamma * acc
        c[t] = acc * m2[b, t]
    s = sum(c)
    rows.append(sum(nll[t] * m2[b, t] * c[t] * n / s for t in range(T - 1)) / n)
out["ift"] = float(torch.stack(rows).mean())
out["ift_ids_hat"] = ids_hat.tolist()

# Pairs: rows 0-1 chosen, rows 2-3 rejected; fixed reference log-prob sums.
sums, lens = (lp * m).sum(1), m.sum(1)
ref = torch.tensor([-60.0, -55.0, -58.0, -41.0], dtype=torch.float64)
out["reference_sums"] = ref.tolist()
pc, pr, rc, rr = sums[:2], sums[2:], ref[:2], ref[2:]
x = (pc - rc) - (pr - rr)
out["dpo"] = float(-F.logsigmoid(0.1 * x).mean())
mc, mr = pc / lens[:2], pr / lens[2:]
xi = (mc - rc / lens[:2]) - (mr - rr / lens[2:])
out["ipo"] = float(((xi - 1 / (2 * 0.1)) ** 2).mean())
log_odds = (mc - mr) - (torch.log1p(-torch.exp(mc)) - torch.log1p(-torch.exp(mr)))
nll_chosen = -(lp[:2] * m[:2]).sum() / m[:2].sum()
out["orpo"] = float(nll_chosen - 0.25 * F.logsigmoid(log_odds).mean())
out["simpo"] = float(-F.logsigmoid(2.0 * (mc - mr - 0.8)).mean())
u = 0.5 * x
out["exo"] = float((torch.sigmoid(u) * (F.logsigmoid(u) - 0) + torch.sigmoid(-u) * (F.logsigmoid(-u) + 10)).mean())
os.makedirs(os.path.join(HERE, "..", "methods"), exist_ok=True)
json.dump(out, open(os.path.join(HERE, "..", "methods", "first_step.json"), "w"), indent=1)
print({k: v for k, v in out.items() if isinstance(v, float)})

"""Golden values for IftSharp's objectives, computed independently with PyTorch (float64).

Run with Debian's python3-torch:  /usr/bin/python3 make_objective_fixtures.py
Writes ../objectives/objectives.json. Formulas follow the official IFT / EXO code and TRL, written out
here with explicit loops where the C# code is vectorised, so the two cannot share a mistake.
"""
import json, math, os
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
D = torch.float64
out = {}

def tolist(t):
    return t.detach().tolist()

# ---------------------------------------------------------------- token log-probs (shift once)
logits = torch.randn(2, 5, 7, dtype=D)
labels = torch.tensor([[-100, -100, 3, 1, 6], [-100, 2, 0, -100, -100]])
def gather(logits, labels, temp):
    B, T, V = logits.shape
    lp = torch.zeros(B, T - 1, dtype=D); m = torch.zeros(B, T - 1, dtype=D)
    for b in range(B):
        for t in range(T - 1):
            y = int(labels[b, t + 1])
            if y != -100:
                lp[b, t] = torch.log_softmax(logits[b, t] / temp, -1)[y]; m[b, t] = 1
    return lp, m
g1, m1 = gather(logits, labels, 1.0); g8, _ = gather(logits, labels, 0.8)
out["gather"] = {"logits": tolist(logits), "labels": labels.tolist(), "logps": tolist(g1), "logps_t08": tolist(g8), "mask": tolist(m1)}

# ---------------------------------------------------------------- SFT and IFT on per-token log-probs
B, T = 3, 7
logps = -torch.rand(B, T, dtype=D) * 3 - 0.05
mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1]], dtype=D)
logps = logps * mask
out["tokens"] = {"logps": tolist(logps), "mask": tolist(mask)}

def with_grad(fn, *leaves):
    leaves = [l.clone().requires_grad_(True) for l in leaves]
    loss = fn(*leaves)
    grads = torch.autograd.grad(loss, leaves)
    return float(loss), [tolist(g) for g in grads]

def sft_token(lp):
    return -(lp * mask).sum() / mask.sum()
def sft_sequence(lp):
    return torch.stack([-(lp[b] * mask[b]).sum() / mask[b].sum() for b in range(B)]).mean()
for name, fn in [("sft_token", sft_token), ("sft_sequence", sft_sequence)]:
    loss, (g,) = with_grad(fn, logps)
    out[name] = {"loss": loss, "grad": g}

def ift(lp, gamma, detach=False, prop="loss", norm="L1"):
    rows = []
    for b in range(B):
        n = mask[b].sum()
        nll = [-lp[b, t] for t in range(T)]
        src = [x.detach() if detach else x for x in nll]
        if gamma == 0:
            w = [mask[b, t] for t in range(T)]
        else:
            item = []
            for t in range(T):
                if mask[b, t] == 0: item.append(torch.zeros((), dtype=D)); continue
                item.append({"loss": src[t] / n, "logps": src[t], "mask": mask[b, t]}[prop])
            c = [None] * T; acc = torch.zeros((), dtype=D)
            for t in reversed(range(T)):          # c_t = sum_{j>=t} gamma^(j-t) item_j
                acc = item[t] + gamma * acc; c[t] = acc
            c = [c[t] * mask[b, t] for t in range(T)]
            c = [{"L1": x, "L2": x * x, "softmax": torch.exp(x), "log": torch.log(x + 1)}[norm] for x in c]
            c = [c[t] * mask[b, t] for t in range(T)]
            s = sum(c)
            w = [c[t] * n / s for t in range(T)]
        rows.append(sum(nll[t] * mask[b, t] * w[t] for t in range(T)) / n)
    return torch.stack(rows).mean()

ift_cases = []
for gamma, detach, prop, norm in [(0.95, False, "loss", "L1"), (0.95, True, "loss", "L1"), (0.0, False, "loss", "L1"),
                                  (0.5, False, "loss", "L1"), (1.0, False, "loss", "L1"), (0.9, False, "logps", "L2"),
                                  (0.9, False, "mask", "softmax"), (0.8, False, "loss", "log")]:
    loss, (g,) = with_grad(lambda lp: ift(lp, gamma, detach, prop, norm), logps)
    ift_cases.append({"gamma": gamma, "detach": detach, "propagation": prop, "norm": norm, "loss": loss, "grad": g})
out["ift"] = ift_cases

# ---------------------------------------------------------------- pairwise preference objectives
P = 4
def seq(T_):
    lp = -torch.rand(P, T_, dtype=D) * 2 - 0.01
    m = (torch.rand(P, T_) > 0.3).to(D); m[:, 0] = 1
    return lp * m, m
cl, cm = seq(6)
rl, rm = seq(5)
ref_c = -torch.rand(P, dtype=D) * 6
ref_r = -torch.rand(P, dtype=D) * 6
ref_c_len = cm.sum(1); ref_r_len = rm.sum(1)
out["pairs"] = {"chosen_logps": tolist(cl), "chosen_mask": tolist(cm), "rejected_logps": tolist(rl), "rejected_mask": tolist(rm),
                "ref_chosen": tolist(ref_c), "ref_rejected": tolist(ref_r)}

def sums(lp, m): return (lp * m).sum(1)
def means(lp, m): return (lp * m).sum(1) / m.sum(1)

def dpo(kind, beta, eps):
    def fn(c, r):
        if kind == "ipo":
            pc, pr = means(c, cm), means(r, rm); rc, rr = ref_c / ref_c_len, ref_r / ref_r_len
        else:
            pc, pr = sums(c, cm), sums(r, rm); rc, rr = ref_c, ref_r
        x = (pc - rc) - (pr - rr)
        if kind == "sigmoid": l = -(1 - eps) * F.logsigmoid(beta * x) - eps * F.logsigmoid(-beta * x)
        elif kind == "hinge": l = torch.relu(1 - beta * x)
        elif kind == "ipo": l = (x - 1 / (2 * beta)) ** 2
        elif kind == "exo_pair":
            u = beta * x
            l = torch.sigmoid(u) * (F.logsigmoid(u) - math.log(1 - eps)) + torch.sigmoid(-u) * (F.logsigmoid(-u) - math.log(eps))
        return l.mean()
    return fn

def dpo_metrics(kind, beta):
    if kind == "ipo":
        pc, pr = means(cl, cm), means(rl, rm); rc, rr = ref_c / ref_c_len, ref_r / ref_r_len
    else:
        pc, pr = sums(cl, cm), sums(rl, rm); rc, rr = ref_c, ref_r
    ch, rj = beta * (pc - rc), beta * (pr - rr)
    return {"rewards/chosen": float(ch.mean()), "rewards/rejected": float(rj.mean()), "rewards/margins": float((ch - rj).mean()),
            "rewards/accuracies": float((ch > rj).to(D).mean()), "logps/chosen": float(pc.mean()), "logps/rejected": float(pr.mean())}

dpo_cases = []
for kind, beta, eps in [("sigmoid", 0.1, 0.0), ("sigmoid", 0.5, 0.1), ("hinge", 0.1, 0.0), ("ipo", 0.1, 0.0), ("exo_pair", 0.1, 1e-3)]:
    loss, (gc, gr) = with_grad(dpo(kind, beta, eps), cl, rl)
    dpo_cases.append({"type": kind, "beta": beta, "label_smoothing": eps, "loss": loss, "grad_chosen": gc, "grad_rejected": gr,
                      "metrics": dpo_metrics(kind, beta)})
out["dpo"] = dpo_cases

def orpo(beta):
    def fn(c, r):
        lc, lr = means(c, cm), means(r, rm)
        log_odds = (lc - lr) - (torch.log1p(-torch.exp(lc)) - torch.log1p(-torch.exp(lr)))
        nll = -(c * cm).sum() / cm.sum()        # SFT (token) loss on the chosen completions
        return nll - beta * F.logsigmoid(log_odds).mean()
    return fn
loss, (gc, gr) = with_grad(orpo(0.25), cl, rl)
lc, lr = means(cl, cm), means(rl, rm)
lo = (lc - lr) - (torch.log1p(-torch.exp(lc)) - torch.log1p(-torch.exp(lr)))
out["orpo"] = {"beta": 0.25, "loss": loss, "grad_chosen": gc, "grad_rejected": gr,
               "metrics": {"log_odds_chosen": float(lo.mean()), "log_odds_ratio": float(F.logsigmoid(lo).mean()),
                           "rewards/chosen": float(0.25 * lc.mean()), "nll_loss": float(-(cl * cm).sum() / cm.sum())}}

def simpo(beta, ratio, eps):
    def fn(c, r):
        x = means(c, cm) - means(r, rm) - ratio
        return (-(1 - eps) * F.logsigmoid(beta * x) - eps * F.logsigmoid(-beta * x)).mean()
    return fn
loss, (gc, gr) = with_grad(simpo(2.0, 0.8, 0.0), cl, rl)
out["simpo"] = {"beta": 2.0, "gamma_beta_ratio": 0.8, "loss": loss, "grad_chosen": gc, "grad_rejected": gr}

def exo_official(beta):
    def fn(c, r):
        r_hat = torch.stack([beta * (sums(c, cm) - ref_c), beta * (sums(r, rm) - ref_r)], -1)
        logq = torch.log_softmax(r_hat, -1)
        logp = torch.tensor([0.0, -10.0], dtype=D)
        return (logq.exp() * (logq - logp)).sum(-1).mean()
    return fn
loss, (gc, gr) = with_grad(exo_official(0.5), cl, rl)
out["exo_pair_official"] = {"beta_pi": 0.5, "loss": loss, "grad_chosen": gc, "grad_rejected": gr}

# ---------------------------------------------------------------- K-sample reward form
G, K = 3, 4
pol = -torch.rand(G, K, dtype=D) * 10
ref = -torch.rand(G, K, dtype=D) * 10
rew = torch.randn(G, K, dtype=D)
def exo_rw(p, bp=0.5, br=0.5):
    logq = torch.log_softmax(bp * (p - ref), -1); logp = torch.log_softmax(rew / br, -1)
    return (logq.exp() * (logq - logp)).sum(-1).mean()
def dpo_rw(p, bp=0.5, br=0.5):
    logq = torch.log_softmax(bp * (p - ref), -1); prob = torch.softmax(rew / br, -1)
    return -(prob * logq).sum(-1).mean()
l1, (g1,) = with_grad(exo_rw, pol); l2, (g2,) = with_grad(dpo_rw, pol)
out["reward_groups"] = {"policy": tolist(pol), "reference": tolist(ref), "rewards": tolist(rew), "beta_pi": 0.5, "beta_r": 0.5,
                        "exo_rw": {"loss": l1, "grad": g1}, "dpo_rw": {"loss": l2, "grad": g2}}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "objectives", "objectives.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path)

#!/usr/bin/python3
"""One step of the methods whose batches are more than their objective (KTO, SPIN) on the tiny Llama-3-style checkpoint
(models/tiny-llama3), with the independent float64 PyTorch forward of make_model_fixtures.py and KTO and SPIN written out
here from TRL's KTOTrainer and uclaml/SPIN. Inputs are the token rows of methods/first_step.json (prompt = the first 4 tokens of each row).
Run: /usr/bin/python3 tests/IftSharp.Tests/Fixtures/tools/make_method_golden_fixtures.py  -> ../methods/method_golden.json"""
import json, os
import torch

from reference_model import HERE, load_reference, read_safetensors

ns = load_reference()

folder = os.path.join(HERE, "..", "models", "tiny-llama3")
cfg = json.load(open(os.path.join(folder, "config.json")))
policy = read_safetensors(os.path.join(folder, "model.safetensors"))
reference = {k: v.double() * 1.1 for k, v in policy.items()}  # the test scales every weight of a second copy by 1.1
first = json.load(open(os.path.join(HERE, "..", "methods", "first_step.json")))
ids, mask = torch.tensor(first["input_ids"]), torch.tensor(first["attention_mask"])
P = 4
rows = [ids[i, : int(mask[i].sum())] for i in range(ids.shape[0])]

def completion_logp(w, seq, prompt_len):
    """Summed log-prob of seq[prompt_len:] given what precedes it, one unpadded row."""
    logits = ns["reference_logits"](cfg, w, seq[None], torch.ones(1, len(seq), dtype=torch.int64))[0]
    lp = torch.log_softmax(logits[:-1].double(), -1)
    tgt = seq[1:]
    return float(lp[torch.arange(len(seq) - 1), tgt][prompt_len - 1:].sum())

# KTO on rows 0 (desirable) and 3 (undesirable, the short one): with two rows, "completions rotated by one within the
# batch" pairs prompt 0 with completion 3 and prompt 3 with completion 0, whatever order the batch has.
pick, desirable, beta = [0, 3], [True, False], 0.1
pol = [completion_logp(policy, rows[i], P) for i in pick]
ref = [completion_logp(reference, rows[i], P) for i in pick]
mis = [torch.cat([rows[i][:P], rows[j][P:]]) for i, j in zip(pick, pick[::-1])]
kl_pol = [completion_logp(policy, s, P) for s in mis]
kl_ref = [completion_logp(reference, s, P) for s in mis]
kl = max(0.0, sum(a - b for a, b in zip(kl_pol, kl_ref)) / 2)
losses = []
for p, r, d in zip(pol, ref, desirable):
    ratio = p - r
    losses.append(1 - torch.sigmoid(torch.tensor(beta * ((ratio - kl) if d else (kl - ratio)))).item())
out = {"kto": {"rows": pick, "desirable": desirable, "loss": sum(losses) / 2, "kl": kl}}

# SPIN: each prompt's greedy answer under the policy (at most 6 new tokens, stopping after an EOS id), and the opponent's
# (= the policy's, in round 1) summed log-probs of the ground truth and of the answer.
eos = set(cfg["eos_token_id"])
answers, logps = [], []
for seq in rows:
    gen = seq[:P].clone()
    for _ in range(6):
        logits = ns["reference_logits"](cfg, policy, gen[None], torch.ones(1, len(gen), dtype=torch.int64))[0]
        nxt = int(logits[-1].argmax())
        gen = torch.cat([gen, torch.tensor([nxt])])
        if nxt in eos: break
    answers.append(gen.tolist())
    logps.append([completion_logp(policy, seq, P), completion_logp(policy, gen, P)])
out["spin"] = {"rejected_ids": answers, "opponent_logps": logps, "max_new_tokens": 6}
json.dump(out, open(os.path.join(HERE, "..", "methods", "method_golden.json"), "w"), indent=1)
print(out)

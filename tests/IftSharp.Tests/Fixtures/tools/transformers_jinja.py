"""Python's Jinja2 set up as transformers sets it up for chat templates (_compile_jinja_template and
render_jinja_template): an immutable sandbox with trim_blocks, lstrip_blocks and loop controls, transformers' tojson,
raise_exception and strftime_now, and the {% generation %} extension that records where assistant output lands (its
AssistantTracker). strftime_now reads a fixed clock so fixtures are reproducible. Shared by the fixture scripts."""
import json
from datetime import datetime
from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

CLOCK = datetime(2025, 3, 7, 9, 5, 3)


class TemplateRaised(TemplateError):
    """What raise_exception raises (transformers raises a plain TemplateError; the subclass tells it from Jinja's own)."""


class GenerationSpans(Extension):
    """transformers' AssistantTracker: {% generation %} records where its output lands in the streamed render."""
    tags = {"generation"}

    def __init__(self, environment):
        super().__init__(environment)
        self.chunks, self.spans = None, None

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_record"), [], [], body).set_lineno(lineno)

    def _record(self, caller):
        out = caller()
        if self.chunks is not None:
            start = len("".join(self.chunks))
            self.spans.append((start, start + len(out)))
        return out


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationSpans, loopcontrols])

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise TemplateRaised(message)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: CLOCK.strftime(fmt)
    return env

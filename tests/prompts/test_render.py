"""Rendering is safe: strict variables, plain values, no escapes, bounded size and time."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from codetune_lsp.prompts.render import RenderError, render

CODE = "def f(x):\n    return x\n"


def test_renders_plain_values() -> None:
    out = render(
        "{{ lang }}: {{ items|join(', ') }} {{ opts.n + 1 }}",
        {"lang": "python", "items": ["a", "b"], "opts": {"n": 1}},
    )
    assert out == "python: a, b 2"


def test_values_are_never_rendered_again() -> None:
    tricky = "{{ 7 * 7 }} {% for x in y %} {# c #} {{ config.__class__ }}"
    assert render("<{{ code }}>", {"code": tricky}) == f"<{tricky}>"


def test_undefined_variables_fail_loudly() -> None:
    with pytest.raises(RenderError, match="'missing' is undefined"):
        render("{{ missing }}", {})


@pytest.mark.parametrize("value", [object(), b"bytes", {1: "int key"}, [print]])
def test_only_plain_values_go_in(value: object) -> None:
    with pytest.raises(RenderError, match="variable 'v'"):
        render("{{ v }}", {"v": value})


INJECTIONS = {
    "mro walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals through a method": "{{ code.upper.__globals__ }}",
    "attr filter": "{{ code|attr('__class__') }}",
    "format string": "{{ '{0.__class__.__init__.__globals__}'.format(code) }}",
    "format_map": "{{ '{x.__class__}'.format_map({'x': code}) }}",
    "self reference": "{{ self.__init__.__globals__ }}",
    "loop object": "{% for i in [1] %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}",
    "mutating a list": "{{ items.append(1) }}",
    "mutating a dict": "{{ opts.update({'a': 1}) }}",
    "builtin helpers removed": "{{ cycler.__init__.__globals__ }}",
    "lipsum globals": "{{ lipsum.__globals__ }}",
    "request-style gadget": "{{ namespace.__init__.__globals__.os }}",
    "huge range": "{% for i in range(10**7) %}{% endfor %}",
    "string bomb": "{{ 'x' * 10**9 }}",
    "list bomb": "{{ [1] * 10**9 }}",
    "power bomb": "{{ ((9 ** 60) ** 60) ** 60 }}",
    "big exponent": "{{ 2 ** 100000 }}",
}


@pytest.mark.parametrize("name", sorted(INJECTIONS))
def test_injections_are_rejected_with_a_clear_error(name: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(INJECTIONS[name], {"code": CODE, "items": [1], "opts": {"a": 0}})
    message = str(caught.value)
    assert "Traceback" not in message
    assert "<function" not in message and "<module" not in message


@pytest.mark.parametrize(
    "runaway",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for a in code %}{% for b in code %}{% for c in code %}"
        "{% endfor %}{% endfor %}{% endfor %}",
    ],
)
def test_runaway_loops_stop_at_the_deadline(runaway: str) -> None:
    started = time.monotonic()
    with pytest.raises(RenderError, match="longer than"):
        render(runaway, {"code": "x" * 5000}, max_seconds=0.2)
    assert time.monotonic() - started < 2.0


def test_output_is_capped() -> None:
    with pytest.raises(RenderError, match="exceeds 1000 characters"):
        render("{% for i in range(500) %}{{ code }}{% endfor %}", {"code": "abc"}, max_chars=1000)


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(RenderError, match="line 2"):
        render("ok\n{% if %}", {})


def test_the_tracer_is_restored() -> None:
    import sys

    def tracer(*_):  # pragma: no cover - never called for this frame
        return None

    sys.settrace(tracer)
    try:
        render("{{ a }}", {"a": 1})
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)


HUGE = 300_000_000
# Each of these would allocate hundreds of MB in one C call if it ran.
BOMBS = {
    "center": f"{{{{ 'a'|center({HUGE}) }}}}",
    "indent": f"{{{{ 'a\\nb'|indent({HUGE}) }}}}",
    "indent by a string": "{{ code|replace('x', '\\n')|indent(code) }}",
    "%-format width": f"{{{{ '%{HUGE}s' % 'a' }}}}",
    "format filter width": f"{{{{ '%{HUGE}s'|format('a') }}}}",
    "str.format width": f"{{{{ '{{0:>{HUGE}}}'.format('a') }}}}",
    "str.format nested width": f"{{{{ '{{0:>{{1}}}}'.format('a', {HUGE}) }}}}",
    "str.format repeated field": "{{ ('{0}' * 1000).format(code) }}",
    "ljust": f"{{{{ 'a'.ljust({HUGE}) }}}}",
    "zfill": f"{{{{ '1'.zfill({HUGE}) }}}}",
    "expandtabs": "{{ ('\\t' * 100000).expandtabs(100) }}",
    "replace filter": "{{ code|replace('x', code) }}",
    "str.replace": "{{ code.replace('x', code) }}",
    "join of repeats": "{{ ([code] * 1000)|join }}",
    "join with a big separator": "{{ range(100000)|join(code) }}",
    "~ doubling": "{% set a = code ~ code %}{% set b = a ~ a %}{% set c = b ~ b %}{{ c ~ c }}",
    "+ doubling": "{% set a = code + code %}{% set b = a + a %}{% set c = b + b %}{{ c + c }}",
    "batch fill": f"{{{{ [1]|batch({HUGE}, 0)|list }}}}",
    "slice count": f"{{{{ [1]|slice({HUGE})|list }}}}",
    "wordwrap string": "{{ code|wordwrap(1, wrapstring=code) }}",
    "map over indent": f"{{{{ [code]|map('indent', {HUGE})|join }}}}",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_every_filter_and_format_is_bounded_in_size(name: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(RenderError, match=r"output limit|longer than"):
            render(BOMBS[name], {"code": "x" * 100_000})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024 * 1024


def test_ordinary_uses_of_the_guarded_operations_still_work() -> None:
    source = (
        "{{ code|indent(4) }}|{{ items|join(', ') }}|{{ '%s-%d' % ('a', 3) }}|"
        "{{ '{0}:{1:>5}'.format('x', 7) }}|{{ a ~ b }}|{{ code|replace('a', 'bb') }}|"
        "{{ 't'|center(5) }}|{{ items|batch(1)|list|length }}|{{ (items + items)|length }}"
    )
    values = {"code": "a\nb", "items": ["x", "y"], "a": "1", "b": "2"}
    assert render(source, values) == "a\n    b|x, y|a-3|x:    7|12|bb\nb|  t  |2|4"

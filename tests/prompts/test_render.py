"""Rendering is safe: strict variables, plain values, no escapes, bounded size and time."""

from __future__ import annotations

import time

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

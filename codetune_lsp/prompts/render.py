"""Safe prompt rendering: a Jinja2 sandbox with strict variables and bounded cost.

Templates may come from users and trusted workspaces, and variables carry document text.
So only plain values go in (str, int, float, bool, None, lists, string-keyed dicts), and
``{{`` or ``{%`` inside a value is output verbatim, never rendered again. Attribute walks
(``__class__``, ``__globals__``, ``|attr``, ``str.format`` tricks) are refused by the
immutable sandbox. ``range`` is capped, output is capped, and a deadline enforced by a line
tracer stops runaway loops.

A single filter or method call runs in C and cannot be stopped by the deadline, so every
operation that can make output much bigger than its input (``*``, ``**``, ``+``, ``%``, ``~``,
every filter, every method call, ``str.format``) is estimated before it runs and refused
when the estimate exceeds the output limit; results are measured after, so chains stay
bounded too (see :mod:`codetune_lsp.prompts._sizes`).
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Mapping
from functools import lru_cache
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Concat
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range

from codetune_lsp.prompts import _sizes

MAX_OUTPUT_CHARS = 512 * 1024
MAX_RENDER_SECONDS = 0.5
MAX_VALUE_DEPTH = 8
MAX_POWER_BITS = 4096
_TEMPLATE_FILENAME = "<template>"


MAX_EXPRESSION_NESTING = 30  # brackets inside one {{ }} or {% %}; Jinja's parser recurses


class RenderError(ValueError):
    """A template could not be rendered; the message says why, for the user.

    ``line`` is the 1-based line of the template source it concerns, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class _Deadline(Exception):
    pass


class _SizedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to a join that checks the total size before joining."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.sized_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _PromptEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _SizedCodeGenerator

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large")
            too_big = isinstance(left, int) and isinstance(right, int) and right > 0
            if too_big and abs(left).bit_length() * right > MAX_POWER_BITS:
                raise SecurityError("power result too large")
            return left**right
        _sizes.check_binop(operator, left, right, MAX_OUTPUT_CHARS)
        result = super().call_binop(context, operator, left, right)
        return _sizes.checked_result(operator, result, MAX_OUTPUT_CHARS)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        args = _sizes.check_call(__obj, args, kwargs, MAX_OUTPUT_CHARS)
        result = super().call(__context, __obj, *args, **kwargs)
        return _sizes.checked_result(getattr(__obj, "__name__", "call"), result, MAX_OUTPUT_CHARS)

    def sized_concat(self, parts: tuple[Any, ...]) -> str:
        texts = [str(part) for part in parts]
        if sum(map(len, texts)) > MAX_OUTPUT_CHARS:
            raise SecurityError("'~' would exceed the output limit")
        return "".join(texts)


@lru_cache(maxsize=1)
def environment() -> _PromptEnvironment:
    env = _PromptEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.clear()  # no cycler/joiner/namespace/lipsum/dict: less to attack
    env.filters = {
        name: _sizes.guarded_filter(name, func, MAX_OUTPUT_CHARS)
        for name, func in env.filters.items()
    }
    env.globals["range"] = safe_range
    return env


_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def _check_nesting(source: str) -> None:
    """Refuse brackets nested deeper than Jinja's recursive parser can take, with the line."""
    for tag in _TAG.finditer(source):
        depth = 0
        for offset, char in enumerate(tag.group()):
            if char in "([{":
                depth += 1
                if depth > MAX_EXPRESSION_NESTING + 1:  # the tag's own brace counts once
                    line = source.count("\n", 0, tag.start() + offset) + 1
                    raise RenderError(
                        f"template syntax error on line {line}: expression nested deeper "
                        f"than {MAX_EXPRESSION_NESTING} brackets",
                        line,
                    )
            elif char in ")]}":
                depth = max(depth - 1, 0)


def _parsed(source: str, parse: Any) -> Any:
    _check_nesting(source)
    try:
        return parse(source)
    except TemplateSyntaxError as exc:
        raise RenderError(
            f"template syntax error on line {exc.lineno}: {exc.message}", exc.lineno
        ) from exc
    except RecursionError:
        raise RenderError("template syntax error: an expression is nested too deeply") from None


def variables_used(source: str) -> set[str]:
    """Names a template reads from its context (syntax errors raise RenderError)."""
    parsed = _parsed(source, environment().parse)
    return meta.find_undeclared_variables(parsed) - {"range"}


@lru_cache(maxsize=256)
def _compiled(source: str) -> Any:
    return _parsed(source, environment().from_string)


def compile_ahead(source: str) -> None:
    """Compile ``source`` now (``render`` reuses it), e.g. on a worker thread at start-up;
    a broken template is left for ``render`` to report."""
    with contextlib.suppress(RenderError):
        _compiled(source)


def plain(value: Any, name: str, depth: int = 0) -> Any:
    """Return ``value`` if it is plain data; tuples become lists. Else RenderError."""
    if depth > MAX_VALUE_DEPTH:
        raise RenderError(f"variable {name!r} is nested too deeply")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [plain(item, name, depth + 1) for item in value]
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise RenderError(f"variable {name!r} has a non-string key")
        return {key: plain(item, name, depth + 1) for key, item in value.items()}
    raise RenderError(f"variable {name!r} has unsupported type {type(value).__name__}")


def render(
    source: str,
    values: Mapping[str, Any],
    *,
    max_chars: int = MAX_OUTPUT_CHARS,
    max_seconds: float = MAX_RENDER_SECONDS,
) -> str:
    """Render ``source`` with plain ``values``; every failure is a RenderError."""
    template = _compiled(source)
    context = {name: plain(value, name) for name, value in values.items()}
    deadline = time.monotonic() + max_seconds

    def line_tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _Deadline
        return line_tracer

    def call_tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:  # also stops Python-level work inside filters
            raise _Deadline
        return line_tracer if frame.f_code.co_filename == _TEMPLATE_FILENAME else None

    chunks: list[str] = []
    size = 0
    previous = sys.gettrace()
    sys.settrace(call_tracer)
    try:
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > max_chars:
                raise RenderError(f"rendered prompt exceeds {max_chars} characters")
            chunks.append(chunk)
    except _Deadline:
        raise RenderError(f"rendering took longer than {max_seconds:g}s") from None
    except SecurityError as exc:
        raise RenderError(f"template tried something unsafe: {exc}") from None
    except TemplateError as exc:
        raise RenderError(f"template error: {exc}") from None
    except RenderError:
        raise
    except Exception as exc:  # e.g. a filter fed the wrong type: still the template's fault
        raise RenderError(f"template failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.settrace(previous)
    return "".join(chunks)

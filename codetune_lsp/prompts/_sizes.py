"""Output-size estimates for template operations, checked before the operation runs.

A filter such as ``center(300000000)`` allocates its whole result in one C call, which no
deadline can interrupt. So each call is estimated first, from its arguments: numbers are
widths or counts, format strings carry widths and fields, and a few filters multiply their
input (``join``, ``replace``, ``indent``, ``wordwrap``). Results are measured afterwards,
which bounds chains of operations as well.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2.sandbox import SecurityError
from jinja2.utils import _PassArg

_DIGITS = re.compile(r"\d+")
_SCALAR_SIZE = 24  # what a number or other scalar adds when rendered


def size(value: Any) -> int:
    """Roughly how many characters ``value`` renders to (without recursion)."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple):
            total += 2 * len(item) + 2
            stack.extend(item)
        elif isinstance(item, Mapping):
            total += 4 * len(item) + 2
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += _SCALAR_SIZE
    return total


def materialised(value: Any) -> Any:
    """An iterable that is not a plain container, as a list (so it can be measured)."""
    if isinstance(value, str | list | tuple | Mapping) or not hasattr(value, "__iter__"):
        return value
    return list(value)


def _refuse(what: str) -> SecurityError:
    return SecurityError(f"{what} would exceed the output limit")


def _numbers(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[float]:
    values = [*args, *kwargs.values()]
    return [abs(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _check_numbers(what: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> None:
    """A number passed to a filter or method is a width or a count: keep it under the limit."""
    if any(number > limit for number in _numbers(args, kwargs)):
        raise _refuse(what)


def format_estimate(fmt: str, args: Any, field_marker: str) -> int:
    """Worst case for ``fmt % args`` or ``fmt.format(*args)``: every width spelled out in
    the format, and every field filled with the largest argument."""
    if not isinstance(fmt, str):
        return 0
    widths = sum(int(d) if len(d) < 10 else 10**10 for d in _DIGITS.findall(fmt))
    values = list(args.values()) if isinstance(args, Mapping) else list(args)
    biggest = max((size(v) for v in values), default=0)
    numbers = _numbers(tuple(values), {})
    fields = fmt.count(field_marker)
    return int(len(fmt) + widths + fields * min(biggest + max(numbers, default=0), 10**10))


def check_binop(operator: str, left: Any, right: Any, limit: int) -> None:
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            repeats = isinstance(seq, str | list | tuple) and isinstance(count, int)
            if repeats and size(seq) * max(count, 0) > limit:
                raise _refuse("'*'")
    elif operator == "+":
        if isinstance(left, str | list | tuple) and size(left) + size(right) > limit:
            raise _refuse("'+'")
    elif operator == "%" and isinstance(left, str):
        args = right if isinstance(right, tuple | Mapping) else (right,)
        if format_estimate(left, args, "%") > limit:
            raise _refuse("'%' formatting")


def checked_result(what: str, result: Any, limit: int) -> Any:
    if isinstance(result, str | list | tuple | Mapping) and size(result) > limit:
        raise _refuse(repr(what))
    return result


# Filters whose output can be a multiple of their input: (value, *args) -> estimate.
def _join(value: Any, d: Any = "", attribute: Any = None) -> int:
    items = list(value) if isinstance(value, list | tuple | str) else []
    if attribute is not None:  # joins one attribute of each item: at most the items' size
        return size(items) + len(str(d)) * len(items)
    return size(items) + len(str(d)) * len(items)


def _replace(s: Any, old: Any, new: Any, count: Any = None) -> int:
    text, old, new = str(s), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(0, len(new) - len(old))


def _indent(s: Any, width: Any = 4, *args: Any, **kwargs: Any) -> int:
    text = str(s)
    step = width if isinstance(width, int) else len(str(width))
    return len(text) + (text.count("\n") + 1) * abs(step)


def _wordwrap(
    s: Any,
    width: Any = 79,
    break_long_words: Any = True,
    wrapstring: Any = None,
    *args: Any,
    **kwargs: Any,
) -> int:
    text = str(s)
    lines = len(text) // max(int(width) if isinstance(width, int) else 1, 1) + text.count("\n")
    return len(text) + (lines + 1) * len(str(wrapstring or "\n"))


def _format(value: Any, *args: Any, **kwargs: Any) -> int:
    return format_estimate(str(value), kwargs or args, "%")


_FILTER_ESTIMATES: dict[str, Callable[..., int]] = {
    "join": _join,
    "replace": _replace,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "format": _format,
}


def guarded_filter(name: str, func: Callable[..., Any], limit: int) -> Callable[..., Any]:
    """``func`` with its numbers, its estimate and its result checked against ``limit``."""
    skip = 0 if _PassArg.from_obj(func) is None else 1  # context/eval_ctx/environment first
    estimate = _FILTER_ESTIMATES.get(name)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_numbers(f"filter {name!r}", args[skip:], kwargs, limit)
        if estimate is not None:
            if len(args) > skip:  # a range or generator is measured as the list it yields
                args = (*args[:skip], materialised(args[skip]), *args[skip + 1 :])
            if estimate(*args[skip:], **kwargs) > limit:
                raise _refuse(f"filter {name!r}")
        return checked_result(f"filter {name!r}", func(*args, **kwargs), limit)

    return guarded


# str methods that multiply: (the string, *args) -> estimate.
def _str_join(sep: str, iterable: Any = (), *args: Any) -> int:
    items = list(iterable) if isinstance(iterable, list | tuple | str) else []
    return size(items) + len(sep) * len(items)


def _str_expandtabs(text: str, tabsize: Any = 8, *args: Any) -> int:
    return len(text) + text.count("\t") * (tabsize if isinstance(tabsize, int) else 8)


def _str_format(text: str, *args: Any, **kwargs: Any) -> int:
    return format_estimate(text, [*args, *kwargs.values()], "{")


def _str_format_map(text: str, mapping: Any = None, *args: Any) -> int:
    return format_estimate(text, mapping if isinstance(mapping, Mapping) else {}, "{")


_METHOD_ESTIMATES: dict[str, Callable[..., int]] = {
    "join": _str_join,
    "replace": _replace,
    "expandtabs": _str_expandtabs,
    "format": _str_format,
    "format_map": _str_format_map,
}


def check_call(
    obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int
) -> tuple[Any, ...]:
    """Before a call from a template: numbers within the limit, str methods estimated.
    Returns the arguments to call with (an iterable argument measured becomes a list)."""
    name = getattr(obj, "__name__", "call")
    _check_numbers(f"{name}()", args, kwargs, limit)
    owner = getattr(getattr(obj, "__wrapped__", obj), "__self__", None)
    estimate = _METHOD_ESTIMATES.get(name)
    if isinstance(owner, str) and estimate is not None:
        args = tuple(materialised(arg) for arg in args)
        if estimate(owner, *args, **kwargs) > limit:
            raise _refuse(f"{name}()")
    return args

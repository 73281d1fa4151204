"""Which lines a code action works on: the selection, or the definition around the cursor."""

from __future__ import annotations

import re

_DEFINITION = re.compile(r"^(\s*)(?:async\s+def|def|class|function|fn|func|pub\s+fn)\b")


def starts_definition(line: str) -> bool:
    """Whether ``line`` opens a function or class."""
    return _DEFINITION.match(line) is not None


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def enclosing_definition(lines: list[str], cursor_line: int) -> tuple[int, int] | None:
    """(first, last) 0-based lines of the innermost definition holding ``cursor_line``,
    decorators included; None when the cursor is at module level outside any."""
    for start in range(min(cursor_line, len(lines) - 1), -1, -1):
        match = _DEFINITION.match(lines[start])
        if not match:
            continue
        depth = _indent(lines[start])
        end = start
        for index in range(start + 1, len(lines)):
            line = lines[index]
            if not line.strip():
                continue
            if _indent(line) <= depth and not line.lstrip().startswith((")", "]", "}")):
                break
            end = index
        if end >= cursor_line:
            while start > 0 and lines[start - 1].lstrip().startswith("@"):
                start -= 1
            return start, end
    return None

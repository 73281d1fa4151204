"""Python definitions as a completion needs them: the signature and the docstring's first
lines of each module-level function, class (with its public method signatures) and
constant. Found by scanning lines, not by parsing, so half-written files work too and a
2,000-file workspace is read in seconds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

TOP_LEVEL = re.compile(r"(?:async\s+def|def|class)\s+([A-Za-z_]\w*)")
METHOD = re.compile(r"(\s+)(?:async\s+def|def)\s+([A-Za-z_]\w*)")
TOP_FROM_IMPORT = re.compile(
    r"^from[ \t]+[\w.]+[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.MULTILINE
)
TOP_IMPORT = re.compile(r"^import[ \t]+([\w.]+(?:[ \t]+as[ \t]+\w+)?)", re.MULTILINE)
TOP_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)[ \t]*(?::[^=\n]+)?=(?!=)", re.MULTILINE)
STAR_IMPORT = re.compile(r"^from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+\*", re.MULTILINE)
CONSTANT = re.compile(r"([A-Z][A-Z0-9_]+)\s*(?::[^=]+)?=")
SIGNATURE_LINES = 6
DOCSTRING_LINES = 4
METHODS_SHOWN = 12
CONSTANT_CHARS = 120


@dataclass(frozen=True)
class Definition:
    name: str
    line: int  # 0-based line of the ``def``/``class``/assignment
    kind: str  # function, class or constant
    text: str  # signature(s) and docstring, ready to show the model


def _signature(lines: list[str], start: int) -> tuple[list[str], int]:
    """The lines of a signature that starts at ``start``, up to the one ending in ``:``."""
    taken: list[str] = []
    for index in range(start, min(start + SIGNATURE_LINES, len(lines))):
        taken.append(lines[index].rstrip())
        if taken[-1].endswith(":"):
            return taken, index + 1
    return taken, start + len(taken)


def _docstring(lines: list[str], start: int) -> list[str]:
    """The first lines of a docstring opening at or after ``start`` (blank lines skipped)."""
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index >= len(lines):
        return []
    first = lines[index].strip()
    quote = first[:3]
    if quote not in ('"""', "'''"):
        return []
    taken = [lines[index].rstrip()]
    if first.count(quote) >= 2 and len(first) > 3:
        return taken
    for later in lines[index + 1 : index + DOCSTRING_LINES]:
        taken.append(later.rstrip())
        if quote in later:
            return taken
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    return [*taken, f"{indent}{quote}"]


def _methods(lines: list[str], start: int) -> list[str]:
    """Public method signatures (and ``__init__``) of the class body after ``start``."""
    shown: list[str] = []
    for index in range(start, len(lines)):
        line = lines[index]
        if line.strip() and not line[0].isspace() and not line.startswith("#"):
            break  # the class has ended
        match = METHOD.match(line)
        if match is None or len(match.group(1)) != 4:
            continue
        name = match.group(2)
        if name.startswith("_") and name != "__init__":
            continue
        signature, _ = _signature(lines, index)
        shown.extend(signature)
        shown[-1] += " ..."
        if len(shown) >= METHODS_SHOWN:
            break
    return shown


def python_definitions(text: str) -> list[Definition]:
    lines = text.splitlines()
    found: list[Definition] = []
    for index, line in enumerate(lines):
        if not line or line[0].isspace():
            continue
        match = TOP_LEVEL.match(line)
        if match is not None:
            signature, body = _signature(lines, index)
            kind = "class" if line.startswith("class") else "function"
            shown = signature + _docstring(lines, body)
            if kind == "class":
                shown += _methods(lines, body)
            else:
                shown[-1] += "" if len(shown) > len(signature) else " ..."
            found.append(Definition(match.group(1), index, kind, "\n".join(shown)))
            continue
        constant = CONSTANT.match(line)
        if constant is not None:
            shown_line = line.rstrip()[:CONSTANT_CHARS]
            found.append(Definition(constant.group(1), index, "constant", shown_line))
    return found


def star_imports(text: str, relative: str) -> tuple[str, ...]:
    """The dotted modules a file re-exports with ``from … import *`` (relative ones resolved
    against its path), as a package's ``__init__`` does."""
    package = list(PurePosixPath(relative).parent.parts)
    found = []
    for dots, module in STAR_IMPORT.findall(text):
        if dots:
            base = package[: len(package) - (len(dots) - 1)]
            module = ".".join([*base, module] if module else base)
        if module:
            found.append(module)
    return tuple(found)


def module_exports(text: str) -> tuple[str, ...]:
    """Other names a module binds at its top level, which ``module.name`` reaches too:
    what it imports (a package's ``__init__`` re-exports this way) and what it assigns."""
    names: list[str] = []
    for group in TOP_FROM_IMPORT.findall(text):
        for part in group.strip("()").split(","):
            words = part.split()
            if words and words[0].isidentifier():
                names.append(words[-1] if len(words) == 3 and words[1] == "as" else words[0])
    for spec in TOP_IMPORT.findall(text):
        words = spec.split()
        names.append(words[-1] if len(words) == 3 else words[0].split(".")[0])
    names.extend(TOP_ASSIGNMENT.findall(text))
    return tuple(dict.fromkeys(names))

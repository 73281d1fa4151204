"""The three sources of cross-file snippets for one cursor.

- definitions: the names used just before the cursor that the current file does not
  define, looked up in the index; a definition in a module the file imports wins, and an
  ambiguous name (defined in several files, none imported) is left out;
- open documents: the window of each other open document (most recently edited first)
  that shares the most identifiers with the code around the cursor (Jaccard);
- retrieval: the best BM25 windows of the rest of the workspace.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from codetune_lsp.context.index import WINDOW_LINES, WINDOW_STRIDE, Hit, WorkspaceIndex, terms

QUERY_LINES_BEFORE = 20
QUERY_LINES_AFTER = 3
NAME_LINES = 8
SCOPE_LINES = 40
IMPORT_LINES = 300
OPEN_DOCUMENTS = 3
MIN_SIMILARITY = 0.05

FROM_IMPORT = re.compile(
    r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.MULTILINE
)
PLAIN_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w.]+(?:\s*,\s*[\w.]+)*)", re.MULTILINE)
IMPORT_ALIAS = re.compile(r"^[ \t]*import[ \t]+([\w.]+)[ \t]+as[ \t]+(\w+)", re.MULTILINE)
MEMBER_AT_CURSOR = re.compile(r"([A-Za-z_]\w*)\.(\w*)$")
NAMESPACE_FILES = 300
DEFINED_HERE = re.compile(r"^\s*(?:async\s+def|def|class)\s+(\w+)|^([A-Za-z_]\w*)\s*=", re.M)


@dataclass(frozen=True)
class Snippet:
    """Code from another file, for the prompt."""

    source: str  # definition, open_document or retrieval
    path: str  # relative to its workspace root, with forward slashes
    line: int  # 0-based first line
    text: str


@dataclass(frozen=True)
class OpenDocument:
    relative: str
    language: str
    text: str


def query_terms(prefix: str, suffix: str) -> list[str]:
    """The identifiers around the cursor that a search matches on."""
    before = prefix.rsplit("\n", QUERY_LINES_BEFORE)[-QUERY_LINES_BEFORE:]
    after = suffix.split("\n", QUERY_LINES_AFTER)[:QUERY_LINES_AFTER]
    return terms("\n".join(before + after))


def names_near_cursor(prefix: str, suffix: str = "", imported: Sequence[str] = ()) -> list[str]:
    """Identifiers of the last lines before the cursor, nearest first, each once; then the
    names the file imports, most used in the lines around the cursor first (the line
    being written often calls one not used yet nearby)."""
    seen: dict[str, None] = {}
    for line in reversed(prefix.rsplit("\n", NAME_LINES)[-NAME_LINES:]):
        if line.lstrip().startswith(("import ", "from ")):
            continue  # an import is not a use
        for name in reversed(terms(line)):
            seen.setdefault(name, None)
    around = Counter(
        terms(
            "\n".join(prefix.rsplit("\n", SCOPE_LINES)[-SCOPE_LINES:])
            + suffix[: suffix.find("\n\n\n") if "\n\n\n" in suffix else len(suffix)][:4000]
        )
    )
    for name in sorted(imported, key=lambda n: -around[n]):
        seen.setdefault(name, None)
    return list(seen)


def imported_names(text: str) -> list[str]:
    """Names bound by the file's ``from … import`` statements, in order."""
    head = "\n".join(text.split("\n", IMPORT_LINES)[:IMPORT_LINES])
    names: list[str] = []
    for _, _, group in FROM_IMPORT.findall(head):
        for part in group.strip("()").split(","):
            words = part.split()
            if words and words[0].isidentifier():
                names.append(words[-1] if len(words) == 3 and words[1] == "as" else words[0])
    return names


def imported_modules(text: str, relative: str) -> list[str]:
    """Dotted module names the file imports, relative imports resolved against its path."""
    head = "\n".join(text.split("\n", IMPORT_LINES)[:IMPORT_LINES])
    found: list[str] = []
    for dots, module, names in FROM_IMPORT.findall(head):
        module = _resolve(dots, module, relative)
        if module:
            found.append(module)
        for part in names.strip("()").split(","):
            name = part.split()[0] if part.split() else ""
            if name.isidentifier():
                found.append(f"{module}.{name}" if module else name)
    for group in PLAIN_IMPORT.findall(head):
        found.extend(part.strip() for part in group.split(","))
    return found


def module_aliases(text: str, relative: str) -> dict[str, str]:
    """The dotted module each module name bound by an import stands for (``nx`` for
    ``import networkx as nx``, ``util`` for ``from . import util``); the names ``from``
    imports bind may be modules or not, which the index decides."""
    head = "\n".join(text.split("\n", IMPORT_LINES)[:IMPORT_LINES])
    aliases: dict[str, str] = {}
    for module in imported_modules(text, relative):
        aliases.setdefault(module.rsplit(".", 1)[-1], module)
    for group in PLAIN_IMPORT.findall(head):
        for part in group.split(","):
            aliases.setdefault(part.strip().split(".")[0], part.strip().split(".")[0])
    for module, alias in IMPORT_ALIAS.findall(head):
        aliases[alias] = module
    for dots, module, names in FROM_IMPORT.findall(head):  # from pkg import mod as alias
        for part in names.strip("()").split(","):
            words = part.split()
            if len(words) == 3 and words[1] == "as":
                base = _resolve(dots, module, relative)
                aliases[words[2]] = f"{base}.{words[0]}" if base else words[0]
    return aliases


@dataclass(frozen=True)
class Namespace:
    """What ``alias.`` at the cursor reaches, ``alias`` bound by an import to a workspace
    module: every name the access may take (its definitions, the other names it binds at
    the top level, its submodules, and the same through its star re-exports)."""

    alias: str
    names: tuple[str, ...]


def namespace_at_cursor(
    index: WorkspaceIndex, text: str, relative: str, prefix: str, root_name: str = ""
) -> Namespace | None:
    """The namespace of the module before ``.`` at the cursor (None when the cursor is not
    after ``name.``, or ``name`` is not a workspace module the file imports)."""
    match = MEMBER_AT_CURSOR.search(prefix[-200:])
    if match is None:
        return None
    module = module_aliases(text, relative).get(match.group(1))
    files = _module_files(index, module, root_name) if module else []
    first = index.file_symbols(files[0]) if files else None
    if first is None:
        return None
    names: dict[str, None] = dict.fromkeys(index.child_modules(files[0]))
    queue, seen = [first], {files[0]}
    while queue and len(seen) <= NAMESPACE_FILES:
        symbols = queue.pop(0)
        names.update(dict.fromkeys(d.name for d in symbols.definitions))
        names.update(dict.fromkeys(symbols.exports))
        for dotted in symbols.star_imports:
            for star in _module_files(index, dotted, root_name)[:1]:
                nested = index.file_symbols(star) if star not in seen else None
                seen.add(star)
                if nested is not None:
                    queue.append(nested)
    return Namespace(match.group(1), tuple(sorted(names)))


def _resolve(dots: str, module: str, relative: str) -> str:
    """The dotted name of ``from <dots><module> import …`` in the file at ``relative``."""
    if not dots:
        return module
    package = list(PurePosixPath(relative).parent.parts)
    base = package[: len(package) - (len(dots) - 1)] if len(dots) > 1 else package
    return ".".join([*base, module] if module else base)


def _module_files(index: WorkspaceIndex, dotted: str, root_name: str = "") -> list[Path]:
    """The files of module ``dotted``; with the workspace root inside the package, its
    own absolute imports (``pkg.sub.mod``) are found without the leading names, and the
    package itself (named as the root's folder) is the root's ``__init__``."""
    parts = dotted.split(".")
    for start in range(len(parts)):
        found = index.module_files(".".join(parts[start:]))
        if found:
            return found
    if root_name and parts[0] == root_name and len(parts) == 1:
        return index.module_files("")
    return []


def definitions(
    index: WorkspaceIndex,
    text: str,
    relative: str,
    prefix: str,
    limit: int,
) -> list[Snippet]:
    """Definitions of the names used before the cursor that this file does not define."""
    here = {a or b for a, b in DEFINED_HERE.findall(text)}
    imported = {p for m in imported_modules(text, relative) for p in _module_files(index, m)}
    suffix = text[len(prefix) :]
    chosen: list[Snippet] = []
    for name in names_near_cursor(prefix, suffix, imported_names(text)):
        if name in here:
            continue
        candidates = index.definitions(name)
        preferred = [c for c in candidates if c[0] in imported]
        pick = preferred or (candidates if len(candidates) == 1 else [])
        if pick:
            _, path, definition = pick[0]
            chosen.append(Snippet("definition", path, definition.line, definition.text))
            if len(chosen) == limit:
                break
    return chosen


def _windows(text: str) -> list[tuple[int, list[str]]]:
    """Windows as the index makes them: every stride, until one reaches the end."""
    lines = text.split("\n")
    windows = []
    for start in range(0, len(lines), WINDOW_STRIDE):
        windows.append((start, lines[start : start + WINDOW_LINES]))
        if start + WINDOW_LINES >= len(lines):
            break
    return windows


def open_documents(
    documents: Sequence[OpenDocument], query: list[str], language: str
) -> list[Snippet]:
    """From each other open document of the language, its window most like the query."""
    wanted = set(query)
    chosen: list[Snippet] = []
    for document in [d for d in documents if d.language == language][:OPEN_DOCUMENTS]:
        best: tuple[float, int, list[str]] | None = None
        for start, lines in _windows(document.text):
            words = set(terms("\n".join(lines)))
            union = len(wanted | words)
            score = len(wanted & words) / union if union else 0.0
            if best is None or score > best[0]:
                best = (score, start, lines)
        if best is not None and best[0] >= MIN_SIMILARITY:
            text = "\n".join(best[2])
            chosen.append(Snippet("open_document", document.relative, best[1], text))
    return chosen


def retrieval(
    index: WorkspaceIndex,
    query: list[str],
    language: str,
    current: Path | None,
    skip: set[str],
    limit: int,
    read: Callable[[Hit], str | None],
) -> list[Snippet]:
    """The best BM25 windows of files not already represented."""
    chosen: list[Snippet] = []
    for hit in index.search(query, language, current, limit + len(skip)):
        if hit.relative in skip:
            continue
        text = read(hit)
        if text is None:
            continue
        chosen.append(Snippet("retrieval", hit.relative, hit.start_line, text.rstrip("\n")))
        if len(chosen) == limit:
            break
    return chosen

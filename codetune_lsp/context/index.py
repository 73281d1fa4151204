"""The workspace index: overlapping line windows scored by BM25, and Python definitions.

Memory stays small and bounded: a window is a few integers, each term's postings are one
``array`` of packed ``window << 8 | term frequency`` values, and no file text is kept (the
few windows a completion uses are read back from disk). A search only walks the postings
of the query's rarest terms, so its cost does not grow with the workspace.

Every method is thread-safe: files are parsed outside the lock and swapped in under it,
so a search never waits for a file being indexed.
"""

from __future__ import annotations

import heapq
import math
import re
import sys
import threading
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from codetune_lsp.context.files import SourceFile
from codetune_lsp.context.symbols import (
    Definition,
    module_exports,
    python_definitions,
    star_imports,
)

WINDOW_LINES = 20
WINDOW_STRIDE = 10
# BM25's usual constants.
K1 = 1.2
B = 0.75
# A search walks the query's rarest terms until this many matched other files or this
# many postings were read; a term in more than this share of all windows is never walked:
# common words say little about relevance and cost the most.
QUERY_TERMS = 8
POSTINGS_BUDGET = 6000
MAX_TERM_SHARE = 0.02
MIN_TERM_CAP = 200
MAX_TF = 255
# Removed windows are dropped once there are more of them than this and than live ones.
COMPACT_AFTER = 20_000

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{1,}")
# Words of the languages themselves, and the names every file uses.
STOP_WORDS = frozenset(
    {
        "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "False", "finally", "for", "from", "global", "if", "import",
        "in", "is", "lambda", "None", "nonlocal", "not", "or", "pass", "raise", "return", "self",
        "True", "try", "while", "with", "yield", "const", "let", "var", "function", "new", "this",
        "null", "undefined", "void", "typeof", "instanceof", "public", "private", "protected",
        "static", "final", "int", "str", "bool", "float", "dict", "list", "set", "tuple", "len",
        "print", "string", "func", "struct", "impl", "fn", "mut", "pub", "use", "mod", "type",
        "interface", "package", "go", "defer", "range", "switch", "case", "default", "extends",
        "implements", "super", "cls", "args", "kwargs", "true", "false", "none",
    }
)  # fmt: skip


def terms(text: str) -> list[str]:
    """The identifiers of ``text`` that carry meaning (two characters or more)."""
    return [word for word in IDENTIFIER.findall(text) if word not in STOP_WORDS]


@dataclass(frozen=True)
class Hit:
    """A window of an indexed file, with its score and where its bytes are."""

    path: Path
    relative: str
    start_line: int  # 0-based
    end_line: int  # exclusive
    score: float
    stamp: tuple[int, int]  # the file as it was indexed: modification time and size
    byte_start: int
    byte_end: int


@dataclass
class _File:
    path: Path
    relative: str
    language: str
    stamp: tuple[int, int] = (0, 0)
    stride_bytes: array[int] = field(default_factory=lambda: array("I"))
    windows: list[int] = field(default_factory=list)
    terms: tuple[str, ...] = ()  # every term of the file, for removal
    definitions: list[Definition] = field(default_factory=list)
    star_imports: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedFile:
    """One file's windows and definitions, computed outside the index lock."""

    path: Path
    relative: str
    language: str
    windows: list[tuple[int, int, Counter[str]]]
    definitions: list[Definition]
    stamp: tuple[int, int] = (0, 0)
    stride_bytes: array[int] = field(default_factory=lambda: array("I"))
    star_imports: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileSymbols:
    """What a Python file offers to a ``module.`` access: its own definitions, the other
    names it binds at the top level, and the modules it re-exports with ``from … import *``."""

    relative: str
    definitions: list[Definition]
    star_imports: tuple[str, ...]
    exports: tuple[str, ...] = ()


def stride_offsets(data: bytes) -> array[int]:
    """The byte offset of every ``WINDOW_STRIDE``-th line start, and the end."""
    offsets = array("I", [0])
    position = count = 0
    while (found := data.find(b"\n", position)) != -1:
        position = found + 1
        count += 1
        if count % WINDOW_STRIDE == 0:
            offsets.append(position)
    offsets.append(len(data))
    return offsets


def parse_file(path: Path, relative: str, language: str, source: SourceFile) -> ParsedFile:
    text = source.text
    lines = text.split("\n")
    # Each stride of lines is read once; a window is two strides.
    strides = [
        Counter(terms("\n".join(lines[start : start + WINDOW_STRIDE])))
        for start in range(0, len(lines), WINDOW_STRIDE)
    ]
    windows = []
    per_window = WINDOW_LINES // WINDOW_STRIDE
    for number, start in enumerate(range(0, max(len(lines), 1), WINDOW_STRIDE)):
        end = min(start + WINDOW_LINES, len(lines))
        counts: Counter[str] = Counter()
        for part in strides[number : number + per_window]:
            counts.update(part)
        if counts:
            windows.append((start, end, counts))
        if end >= len(lines):
            break
    python = language == "python"
    definitions = python_definitions(text) if python else []
    stars = star_imports(text, relative) if python and "import *" in text else ()
    exports = module_exports(text) if python else ()
    offsets = stride_offsets(source.data)
    return ParsedFile(
        path, relative, language, windows, definitions, source.stamp, offsets, stars, exports
    )


def module_names(relative: str) -> list[str]:
    """Dotted names a Python file may be imported by: ``src/pkg/mod.py`` gives
    ``src.pkg.mod``, ``pkg.mod`` and ``mod`` (the root may sit above the package)."""
    pure = PurePosixPath(relative)
    if pure.suffix not in (".py", ".pyi"):
        return []
    parts = list(pure.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts:
        return [""]  # the package the workspace root is
    return [".".join(parts[i:]) for i in range(len(parts))]


class WorkspaceIndex:
    """Windows and definitions of the workspace's source files."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, _File] = {}
        # Per window: its file (None once removed), first line, line count, term count.
        self._window_file: list[_File | None] = []
        self._window_start: array[int] = array("I")
        self._window_lines: array[int] = array("I")
        self._window_terms: array[int] = array("I")
        self._postings: dict[str, array[int]] = {}
        self._alive_windows = 0
        self._total_length = 0
        self._definitions: dict[str, list[tuple[_File, Definition]]] = {}
        self._modules: dict[str, list[_File]] = {}

    # -- updates ------------------------------------------------------------------------

    def add(self, parsed: ParsedFile) -> None:
        """Index ``parsed``, replacing the file's previous version."""
        with self._lock:
            self._remove(parsed.path)
            entry = _File(
                parsed.path, parsed.relative, parsed.language, parsed.stamp, parsed.stride_bytes
            )
            for start, end, counts in parsed.windows:
                window = len(self._window_file)
                self._window_file.append(entry)
                self._window_start.append(start)
                self._window_lines.append(end - start)
                length = sum(counts.values())
                self._window_terms.append(length)
                self._alive_windows += 1
                self._total_length += length
                entry.windows.append(window)
                for term, tf in counts.items():
                    posting = self._postings.get(term)
                    if posting is None:
                        posting = self._postings[sys.intern(term)] = array("I")
                    posting.append(window << 8 | min(tf, MAX_TF))
            entry.terms = tuple({sys.intern(t) for _, _, c in parsed.windows for t in c})
            entry.definitions = parsed.definitions
            entry.star_imports = parsed.star_imports
            entry.exports = parsed.exports
            for definition in parsed.definitions:
                self._definitions.setdefault(definition.name, []).append((entry, definition))
            for name in module_names(parsed.relative):
                self._modules.setdefault(name, []).append(entry)
            self._files[parsed.path] = entry
            if len(self._window_file) - self._alive_windows > max(
                COMPACT_AFTER, self._alive_windows
            ):
                self._compact()

    def remove(self, path: Path) -> None:
        with self._lock:
            self._remove(path)

    def _remove(self, path: Path) -> None:
        entry = self._files.pop(path, None)
        if entry is None:
            return
        for window in entry.windows:
            self._window_file[window] = None
            self._alive_windows -= 1
            self._total_length -= self._window_terms[window]
        dead = set(entry.windows)
        for term in entry.terms:
            posting = self._postings[term]
            kept = array("I", (p for p in posting if p >> 8 not in dead))
            if kept:
                self._postings[term] = kept
            else:
                del self._postings[term]
        for name in {definition.name for definition in entry.definitions}:
            owners = [o for o in self._definitions.get(name, []) if o[0] is not entry]
            if owners:
                self._definitions[name] = owners
            else:
                self._definitions.pop(name, None)
        for name in module_names(entry.relative):
            modules = [m for m in self._modules.get(name, []) if m is not entry]
            if modules:
                self._modules[name] = modules
            else:
                self._modules.pop(name, None)

    def _compact(self) -> None:
        """Renumber the live windows so removed ones stop taking memory."""
        renumbered: dict[int, int] = {}
        files: list[_File | None] = []
        starts, lines, lengths = array("I"), array("I"), array("I")
        for old, entry in enumerate(self._window_file):
            if entry is None:
                continue
            renumbered[old] = len(files)
            files.append(entry)
            starts.append(self._window_start[old])
            lines.append(self._window_lines[old])
            lengths.append(self._window_terms[old])
        for term, posting in self._postings.items():
            self._postings[term] = array(
                "I", (renumbered[p >> 8] << 8 | p & MAX_TF for p in posting if p >> 8 in renumbered)
            )
        for entry in self._files.values():
            entry.windows = [renumbered[w] for w in entry.windows]
        self._window_file = files
        self._window_start, self._window_lines, self._window_terms = starts, lines, lengths

    # -- queries ------------------------------------------------------------------------

    @property
    def file_count(self) -> int:
        return len(self._files)

    @property
    def window_count(self) -> int:
        return self._alive_windows

    def search(
        self, query: Iterable[str], language: str, exclude: Path | None, limit: int
    ) -> list[Hit]:
        """The ``limit`` best windows for ``query`` (BM25), at most one per file, from
        files of ``language`` other than ``exclude``."""
        with self._lock:
            scores = self._score(Counter(query), language, exclude)
            best = heapq.nlargest(limit * 4, scores.items(), key=lambda item: item[1])
            hits: list[Hit] = []
            seen: set[Path] = set()
            for window, score in best:
                entry = self._window_file[window]
                if entry is None or entry.path in seen:
                    continue
                seen.add(entry.path)
                start = self._window_start[window]
                end = start + self._window_lines[window]
                offsets = entry.stride_bytes
                first = offsets[start // WINDOW_STRIDE]
                last = offsets[min(-(-end // WINDOW_STRIDE), len(offsets) - 1)]
                hits.append(
                    Hit(entry.path, entry.relative, start, end, score, entry.stamp, first, last)
                )
                if len(hits) == limit:
                    break
            return hits

    def _score(self, query: Counter[str], language: str, exclude: Path | None) -> dict[int, float]:
        excluded = self._files.get(exclude) if exclude is not None else None
        windows = self._alive_windows
        if not windows:
            return {}
        cap = max(MIN_TERM_CAP, int(windows * MAX_TERM_SHARE))
        rarest_first = sorted(
            (len(p), term) for term in query if (p := self._postings.get(term)) and len(p) <= cap
        )
        average = self._total_length / windows
        lengths, files = self._window_terms, self._window_file
        scores: dict[int, float] = {}
        used = walked = 0
        for df, term in rarest_first:
            if used == QUERY_TERMS or walked > POSTINGS_BUDGET:
                break
            idf = math.log(1 + (windows - df + 0.5) / (df + 0.5)) * query[term]
            matched = False
            for packed in self._postings[term]:
                window = packed >> 8
                entry = files[window]
                if entry is None or entry is excluded or entry.language != language:
                    continue
                tf = packed & MAX_TF
                norm = K1 * (1 - B + B * lengths[window] / average)
                scores[window] = scores.get(window, 0.0) + idf * tf * (K1 + 1) / (tf + norm)
                matched = True
            used += matched  # a term found only in the current file does not count
            walked += df
        return scores

    def definitions(self, name: str) -> list[tuple[Path, str, Definition]]:
        with self._lock:
            return [(f.path, f.relative, d) for f, d in self._definitions.get(name, [])]

    def file_symbols(self, path: Path) -> FileSymbols | None:
        """One indexed file's definitions (in file order) and star imports."""
        with self._lock:
            entry = self._files.get(path)
            if entry is None:
                return None
            return FileSymbols(
                entry.relative, list(entry.definitions), entry.star_imports, entry.exports
            )

    def child_modules(self, path: Path) -> list[str]:
        """The names of the modules and packages directly inside the package that ``path``
        is the ``__init__`` of (empty for a plain module)."""
        with self._lock:
            entry = self._files.get(path)
            if entry is None or PurePosixPath(entry.relative).stem != "__init__":
                return []
            package = PurePosixPath(entry.relative).parent.parts
            depth = len(package)
            found = set()
            for other in self._files.values():
                parts = PurePosixPath(other.relative).parts
                if len(parts) <= depth or parts[:depth] != package:
                    continue
                if len(parts) > depth + 1:
                    found.add(parts[depth])
                elif parts[depth].endswith((".py", ".pyi")) and parts[depth] != entry.relative:
                    found.add(PurePosixPath(parts[depth]).stem)
            found.discard("__init__")
            return sorted(found)

    def module_files(self, dotted: str) -> list[Path]:
        with self._lock:
            return [f.path for f in self._modules.get(dotted, [])]

"""Cross-file context for one server: keeps the index current off the event loop and
answers one completion's request for snippets in a few milliseconds.

Trust: only files under trusted workspace roots are indexed or read, unless the user's
own config allows context in untrusted workspaces. A document outside every allowed root
gets no cross-file context at all, and nothing outside the roots is ever read.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codetune_lsp.context.files import (
    FileLimits,
    inside,
    language_of,
    read_range,
    read_source,
    walk_sources,
)
from codetune_lsp.context.index import Hit, WorkspaceIndex, parse_file
from codetune_lsp.context.sources import (
    MEMBER_AT_CURSOR,
    OpenDocument,
    Snippet,
    definitions,
    namespace_at_cursor,
    open_documents,
    query_terms,
    retrieval,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContextSwitches:
    """Which sources run and how many snippets each may give."""

    open_documents: bool = True
    definitions: bool = True
    retrieval: bool = True
    max_snippets: int = 6
    snippets: bool = True  # off: only the names after ``module.``, no snippets


@dataclass(frozen=True)
class CursorContext:
    """What one completion gets: snippets in priority order, and the names the prompt
    uses for the repository and the current file."""

    snippets: tuple[Snippet, ...]
    repo_name: str
    file_path: str
    # After ``module.``: the module name before the dot, and every name it reaches.
    members_of: str = ""
    members: tuple[str, ...] = ()


# Open documents whose resolved path is kept.
MAX_REAL_PATHS = 256


class CrossFileContext:
    """The workspace index plus the most-recently-edited order of open documents."""

    def __init__(self, limits: FileLimits | None = None) -> None:
        self.limits = limits or FileLimits()
        self.index = WorkspaceIndex()
        self._roots: list[Path] = []
        self._recent: dict[str, OpenDocument] = {}  # uri -> document, most recent last
        # uri -> ((line, module before a dot at the cursor), context)
        self._stable: dict[str, tuple[tuple[int, str], CursorContext]] = {}
        # An open document's path, links resolved, for its next completions (the roots
        # being set again forgets them all).
        self._real_paths: dict[Path, Path] = {}
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self.ready = threading.Event()
        self.build_seconds: float | None = None

    # -- index upkeep (the work runs on the index thread) -------------------------------

    def set_roots(self, roots: list[Path]) -> None:
        """Index ``roots`` (the allowed ones) from scratch in the background."""
        self._roots = [r.resolve() for r in roots]
        self._real_paths.clear()
        self.ready.clear()
        self.index = WorkspaceIndex()  # nothing of the roots before is served any more
        index = self.index
        self._submit(lambda: self._build(index))

    def file_changed(self, path: Path) -> None:
        """A file was created, changed or saved on disk: re-read it in the background."""
        self._submit(lambda: self._refresh(path))

    def file_deleted(self, path: Path) -> None:
        self._submit(lambda: self.index.remove(path.resolve()))

    def _submit(self, job: Callable[[], None]) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._run, name="codetune-index", daemon=True)
            self._worker.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:
                logger.exception("cross-file index: a job failed")

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every update submitted so far has been applied."""
        done = threading.Event()
        self._submit(done.set)
        return done.wait(timeout)

    def close(self) -> None:
        if self._worker is not None:
            self._jobs.put(None)

    def _build(self, index: WorkspaceIndex) -> None:
        started = time.perf_counter()
        try:
            for path in walk_sources(list(self._roots), self.limits):
                if index is not self.index:
                    return  # the roots changed again: that build takes over
                try:
                    self._refresh(path)
                except Exception:  # one unreadable file never stops the index
                    logger.exception("cross-file index: %s was skipped", path)
        finally:
            if index is self.index:
                self.build_seconds = time.perf_counter() - started
                self.ready.set()
                logger.info(
                    "cross-file index: %d files, %d windows in %.1f s",
                    index.file_count,
                    index.window_count,
                    self.build_seconds,
                )

    def _refresh(self, path: Path) -> None:
        real = path.resolve()
        root = inside(real, self._roots)
        source = read_source(real, self._roots, self.limits) if root is not None else None
        if source is None or root is None:
            self.index.remove(real)
            return
        language = language_of(real) or ""
        self.index.add(parse_file(real, real.relative_to(root).as_posix(), language, source))

    # -- open documents (called on the event loop) --------------------------------------

    def edited(self, uri: str, path: Path | None, language: str, text: str) -> None:
        """An open document changed: it becomes the most recently edited one."""
        self._recent.pop(uri, None)
        for other in [u for u in self._stable if u != uri]:  # their open-document snippets
            del self._stable[other]
        relative = self.relative(path) if path is not None else None
        if relative is not None:
            self._recent[uri] = OpenDocument(relative, language, text)

    def closed(self, uri: str) -> None:
        self._recent.pop(uri, None)
        self._stable.pop(uri, None)

    def relative(self, path: Path) -> str | None:
        """``path`` relative to its allowed root; None when it is under none."""
        real = path.resolve()
        root = inside(real, self._roots)
        return real.relative_to(root).as_posix() if root is not None else None

    # -- one completion -------------------------------------------------------------------

    def gather(
        self,
        uri: str,
        path: Path | None,
        language: str,
        text: str,
        offset: int,
        switches: ContextSwitches,
    ) -> CursorContext | None:
        """Snippets for a cursor at ``offset``; None when the document is not under an
        allowed root. While the cursor stays on one line the answer is reused, so the
        prompt's start (and the model's cached state for it) stays the same as you type;
        only ``module.`` typed on it, for a module not asked for yet, renews it once."""
        real = self._real_path(path) if path is not None else None
        root = inside(real, self._roots, resolved=True) if real is not None else None
        if real is None or root is None:
            return None
        member = MEMBER_AT_CURSOR.search(text[max(offset - 200, 0) : offset])
        place = (text.count("\n", 0, offset), member.group(1) if member else "")
        stable = self._stable.get(uri)
        if stable is not None and stable[0][0] == place[0] and place[1] in ("", stable[0][1]):
            return stable[1]  # same line, and no other module's members asked for
        relative = real.relative_to(root).as_posix()
        prefix, suffix = text[:offset], text[offset:]
        namespace = (
            namespace_at_cursor(self.index, text, relative, prefix, root.name)
            if switches.definitions and language == "python" and member is not None
            else None
        )
        found = (
            self._snippets(uri, real, relative, language, text, prefix, suffix, switches)
            if switches.snippets
            else []
        )
        context = CursorContext(
            tuple(found),
            root.name,
            relative,
            namespace.alias if namespace else "",
            namespace.names if namespace else (),
        )
        self._stable[uri] = (place, context)
        return context

    def _real_path(self, path: Path) -> Path:
        real = self._real_paths.get(path)
        if real is None:
            if len(self._real_paths) >= MAX_REAL_PATHS:
                self._real_paths.clear()
            real = self._real_paths[path] = path.resolve()
        return real

    def _snippets(
        self,
        uri: str,
        path: Path,
        relative: str,
        language: str,
        text: str,
        prefix: str,
        suffix: str,
        switches: ContextSwitches,
    ) -> list[Snippet]:
        limit = switches.max_snippets
        query = query_terms(prefix, suffix)
        found: list[Snippet] = []
        if switches.definitions and language == "python":
            found += definitions(self.index, text, relative, prefix, max(limit // 2, 1))
        if switches.open_documents:
            others = [d for u, d in reversed(self._recent.items()) if u != uri]
            found += open_documents(others, query, language)
        if switches.retrieval and len(found) < limit:
            skip = {s.path for s in found if s.source == "open_document"} | {relative}
            wanted = limit - len(found)
            found += retrieval(self.index, query, language, path, skip, wanted, self._read)
        return found[:limit]

    def _read(self, hit: Hit) -> str | None:
        text = read_range(hit.path, hit.stamp, hit.byte_start, hit.byte_end)
        if text is None:  # changed since it was indexed: index it again for next time
            self.file_changed(hit.path)
        return text

    def status(self) -> dict[str, object]:
        return {
            "roots": [str(r) for r in self._roots],
            "state": "ready" if self.ready.is_set() else ("building" if self._roots else "off"),
            "files": self.index.file_count,
            "windows": self.index.window_count,
            "build_seconds": round(self.build_seconds, 2) if self.build_seconds else None,
            "file_cap": self.limits.max_files,
        }

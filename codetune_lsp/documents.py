"""Open documents, kept exactly as the client sees them, and frozen snapshots of them.

Positions follow the LSP rules: lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (nothing else),
and ``character`` counts code units of the negotiated encoding (utf-8, utf-16 or utf-32).
Only documents the client opened are served; nothing is ever read from disk here.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from lsprotocol import types

logger = logging.getLogger(__name__)

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"
ENCODINGS = (UTF8, UTF16, UTF32)


class DocumentNotOpen(LookupError):
    """A request named a document the client has not opened."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"document {uri} is not open in the editor")
        self.uri = uri


def _units(char: str, encoding: str) -> int:
    if encoding == UTF32:
        return 1
    code = ord(char)
    if encoding == UTF16:
        return 2 if code > 0xFFFF else 1
    if code < 0x80:
        return 1
    if code < 0x800:
        return 2
    return 3 if code < 0x10000 else 4


def line_starts(text: str) -> list[int]:
    """Offsets (in code points) at which each line begins."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(text))]


def _column(text: str, start: int, end: int, wanted: int, encoding: str) -> int:
    """Offset of code unit ``wanted`` of the line ``text[start:end]`` (clamped to its end)."""
    if encoding == UTF32 or text[start:end].isascii():
        return min(start + wanted, end)
    offset, used = start, 0
    while offset < end:
        width = _units(text[offset], encoding)
        if used + width > wanted:
            break
        used += width
        offset += 1
    return offset


_BLOCK = 64 * 1024
_HUGE = 1_000_000  # characters
_LOOKUPS_WITHOUT_TABLE = 8


def _line_start(text: str, line: int, offset: int = 0) -> int | None:
    """Offset where ``line`` (counted from the line starting at ``offset``) begins in
    ``text`` that has no ``\r``; None: past the end.

    Newlines are counted a block at a time (in C), then found one by one in the last
    block only: an edit to a huge document costs no Python object per line."""
    remaining = line
    while remaining:
        block_end = min(offset + _BLOCK, len(text))
        in_block = text.count("\n", offset, block_end)
        if in_block < remaining:
            if block_end == len(text):
                return None
            offset, remaining = block_end, remaining - in_block
            continue
        for _ in range(remaining):
            offset = text.index("\n", offset) + 1
        remaining = 0
    return offset


def range_offsets(text: str, range_: types.Range, encoding: str) -> tuple[int, int]:
    """Offsets of both ends of ``range_``, without building the table of every line start
    (what ``DocumentSnapshot.offset_at`` does, too slow per keystroke in a huge file)."""
    if "\r" in text:  # rare: CR line breaks; the general (slower) path
        snap = DocumentSnapshot("", 0, "", text, encoding)
        return snap.offset_at(range_.start), snap.offset_at(range_.end)
    first = _line_start(text, range_.start.line)
    if first is None:
        return len(text), len(text)
    last = first
    if range_.end.line > range_.start.line:
        last = _line_start(text, range_.end.line - range_.start.line, first)
    start = _column_in_line(text, first, range_.start.character, encoding)
    if last is None:
        return start, len(text)
    return start, _column_in_line(text, last, range_.end.character, encoding)


def _column_in_line(text: str, line_start: int, character: int, encoding: str) -> int:
    brk = _LINE_BREAK.search(text, line_start)
    end = brk.start() if brk else len(text)
    return _column(text, line_start, end, character, encoding)


@dataclass(frozen=True)
class DocumentSnapshot:
    """An immutable view of one document version; safe to use across ``await``."""

    uri: str
    version: int
    language_id: str
    text: str
    encoding: str = UTF16

    @cached_property
    def _starts(self) -> list[int]:
        return line_starts(self.text)

    @property
    def line_count(self) -> int:
        if self._without_table():
            return self.text.count("\n") + 1
        return len(self._starts)

    def _line_bounds(self, line: int) -> tuple[int, int]:
        """Start and end (before its line break) of ``line``."""
        starts = self._starts
        start = starts[line]
        if line + 1 < len(starts):
            end = starts[line + 1]
            end -= 2 if self.text.startswith("\r\n", end - 2) else 1
        else:
            end = len(self.text)
        return start, end

    def line_text(self, line: int) -> str:
        start, end = self._line_bounds(line)
        return self.text[start:end]

    @cached_property
    def _lf_only(self) -> bool:
        return "\r" not in self.text

    def _without_table(self) -> bool:
        """Whether to find a line by counting newlines (in C) instead of building the table
        of every line start: only in a huge document without ``\r``, for its first few
        lookups (the table costs most of a second at 50 MB, one lookup a few ms)."""
        if "_starts" in self.__dict__ or len(self.text) < _HUGE or not self._lf_only:
            return False
        used = self.__dict__.get("_lookups", 0)
        object.__setattr__(self, "_lookups", used + 1)  # frozen: bookkeeping only
        return used < _LOOKUPS_WITHOUT_TABLE

    def offset_at(self, position: types.Position) -> int:
        """Code-point offset of an LSP position; out-of-range values are clamped."""
        if self._without_table():
            start = _line_start(self.text, position.line)
            if start is None:
                return len(self.text)
            return _column_in_line(self.text, start, position.character, self.encoding)
        if position.line >= len(self._starts):
            return len(self.text)
        start, end = self._line_bounds(position.line)
        return _column(self.text, start, end, position.character, self.encoding)

    def position_at(self, offset: int) -> types.Position:
        """LSP position of a code-point offset, in the snapshot's encoding."""
        offset = max(0, min(offset, len(self.text)))
        if self._without_table():
            line = self.text.count("\n", 0, offset)
            start = self.text.rfind("\n", 0, offset) + 1
            found = self.text.find("\n", offset)
            end = found if found >= 0 else len(self.text)
        else:
            line = bisect.bisect_right(self._starts, offset) - 1
            start, end = self._line_bounds(line)
        offset = min(offset, end)
        segment = self.text[start:offset]
        if self.encoding == UTF32 or segment.isascii():
            character = len(segment)
        elif self.encoding == UTF16:
            character = len(segment.encode("utf-16-le")) // 2
        else:
            character = len(segment.encode("utf-8"))
        return types.Position(line=line, character=character)

    def range_of(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.position_at(start), end=self.position_at(end))


@dataclass
class _OpenDocument:
    uri: str
    version: int
    language_id: str
    text: str
    frozen: DocumentSnapshot | None = None  # the last snapshot, while it is still current


@dataclass
class DocumentStore:
    """The documents the client opened, updated by didOpen/didChange/didClose."""

    encoding: str = UTF16
    _docs: dict[str, _OpenDocument] = field(default_factory=dict)

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def open(self, uri: str, language_id: str, version: int, text: str) -> None:
        self._docs[uri] = _OpenDocument(uri, version, language_id, text)

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def change(
        self,
        uri: str,
        version: int,
        changes: Iterable[types.TextDocumentContentChangeEvent],
    ) -> None:
        doc = self._docs.get(uri)
        if doc is None:
            logger.warning("didChange for a document that is not open: %s", uri)
            return
        for change in changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start, end = range_offsets(doc.text, change.range, self.encoding)
                if end < start:
                    start, end = end, start
                doc.text = doc.text[:start] + change.text + doc.text[end:]
            else:
                doc.text = change.text
        doc.version = version

    def is_current(self, uri: str, version: int) -> bool:
        """Whether ``uri`` is still open at ``version`` (a result for it is not stale)."""
        doc = self._docs.get(uri)
        return doc is not None and doc.version == version

    def snapshot(self, uri: str) -> DocumentSnapshot:
        """Freeze the current version of ``uri``; raises DocumentNotOpen if unknown."""
        doc = self._docs.get(uri)
        if doc is None:
            raise DocumentNotOpen(uri)
        frozen = doc.frozen
        if (
            frozen is None
            or frozen.text is not doc.text
            or frozen.version != doc.version
            or frozen.encoding != self.encoding
        ):  # one per version: its line table is built once, not once per request
            frozen = doc.frozen = DocumentSnapshot(
                uri, doc.version, doc.language_id, doc.text, self.encoding
            )
        return frozen

    def uris(self) -> list[str]:
        return list(self._docs)

"""The two ways a feature's text is fitted to a model's window."""

from __future__ import annotations

from dataclasses import dataclass, field

from codetune_lsp.engine.request import Piece
from codetune_lsp.models.base import TokenCounter
from codetune_lsp.prompts.chunks import chunk_document
from codetune_lsp.prompts.context import fit_context

# A chunk smaller than this is not worth a model call, whatever the window says.
MIN_CHUNK_TOKENS = 64


@dataclass(frozen=True)
class AroundCursor:
    """The text before and after a cursor, trimmed outwards from it by whole lines."""

    prefix: str
    suffix: str

    def pieces(self, budget: int, count: TokenCounter) -> list[Piece]:
        fitted = fit_context(self.prefix, self.suffix, budget, count)
        return [Piece({"prefix": fitted.prefix, "suffix": fitted.suffix})]


@dataclass(frozen=True)
class NumberedChunks:
    """A whole document split at top-level blocks, each chunk numbered by document line
    (``numbered_code``), one model call per chunk."""

    text: str
    max_chunks: int = 0  # 0: every chunk
    # Chunks left out by ``max_chunks``, one entry per fitting (read by the analyser).
    skipped: list[int] = field(default_factory=list, compare=False)

    def pieces(self, budget: int, count: TokenCounter) -> list[Piece]:
        chunks = chunk_document(self.text, max(budget, MIN_CHUNK_TOKENS), count)
        if self.max_chunks and len(chunks) > self.max_chunks:
            self.skipped.append(len(chunks) - self.max_chunks)
            chunks = chunks[: self.max_chunks]
        return [Piece({"numbered_code": c.numbered()}, (c.first_line, c.last_line)) for c in chunks]

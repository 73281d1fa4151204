"""The two ways a feature's text is fitted to a model's window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from codetune_lsp.context.sources import Snippet
from codetune_lsp.engine.request import Piece
from codetune_lsp.models.base import TokenCounter
from codetune_lsp.prompts.chunks import chunk_document
from codetune_lsp.prompts.context import fit_context

# A chunk smaller than this is not worth a model call, whatever the window says.
MIN_CHUNK_TOKENS = 64


# The most of the window that snippets from other files may take, whatever the setting.
MAX_CONTEXT_SHARE = 0.5
COMMENT_PREFIX = {"python": "#", "shellscript": "#", "ruby": "#", "lua": "--"}


@dataclass(frozen=True)
class AroundCursor:
    """The text before and after a cursor, trimmed outwards from it by whole lines, and
    optionally snippets of other files (in priority order) after it.

    ``limit`` caps the document's text below the model's window (0: no cap). Snippets
    get up to ``context_tokens`` of the window beyond the document's text: they add to
    what the model sees of the current file instead of pushing it out. Where the window
    itself is the bound, half of it at most is kept for them.
    """

    prefix: str
    suffix: str
    snippets: tuple[Snippet, ...] = ()
    context_tokens: int = 0
    limit: int = 0
    language: str = ""

    def without_context(self) -> AroundCursor:
        return replace(self, snippets=())

    def pieces(self, budget: int, count: TokenCounter) -> list[Piece]:
        share = min(self.context_tokens, int(budget * MAX_CONTEXT_SHARE)) if self.snippets else 0
        document = min(self.limit, budget - share) if self.limit else budget - share
        fitted = fit_context(self.prefix, self.suffix, document, count)
        room = min(self.context_tokens, budget - fitted.prefix_tokens - fitted.suffix_tokens)
        chosen, report = fit_snippets(self.snippets, room, count, self.language)
        variables = {"prefix": fitted.prefix, "suffix": fitted.suffix, "context": chosen}
        return [Piece(variables, context=report)]


def fit_snippets(
    snippets: Sequence[Snippet], budget: int, count: TokenCounter, language: str
) -> tuple[list[dict[str, str]], tuple[dict[str, object], ...]]:
    """Whole snippets, in priority order, while they fit ``budget`` tokens. For the prompt
    the most important comes last, nearest the cursor; each also comes as a comment
    block for models without a repository format."""
    if not snippets or budget <= 0:
        return [], ()
    mark = COMMENT_PREFIX.get(language, "//")
    shown = [_as_variable(s, mark) for s in snippets]
    sizes = count([f"{v['path']}\n{v['text']}\n" for v in shown])
    chosen, report, used = [], [], 0
    for snippet, variable, tokens in zip(snippets, shown, sizes, strict=True):
        if used + tokens > budget:
            continue
        used += tokens
        chosen.append(variable)
        report.append({"source": snippet.source, "path": snippet.path, "tokens": tokens})
    return chosen[::-1], tuple(report)


def _as_variable(snippet: Snippet, mark: str) -> dict[str, str]:
    lines = [f"{mark} {snippet.path}", *(f"{mark} {line}" for line in snippet.text.split("\n"))]
    return {
        "path": snippet.path,
        "text": snippet.text,
        "source": snippet.source,
        "commented": "\n".join(lines),
    }


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

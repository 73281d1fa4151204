"""The two ways a feature's text is fitted to a model's window."""

from __future__ import annotations

import re
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
# The end of typed text a prompt must not end with: a word, with the spaces or the one sign
# before it (tokenizers join those to the word). A new line stays in the prompt: tokenizers
# end a token there, so the indentation after it is the required start.
TYPED_TAIL = re.compile(r"(?:[^\S\n]+|[^\w\s])?\w*\Z")
COMMENT_PREFIX = {"python": "#", "shellscript": "#", "ruby": "#", "lua": "--"}


@dataclass(frozen=True)
class AroundCursor:
    """The text before and after a cursor, trimmed outwards from it by whole lines, and
    optionally snippets of other files (in priority order) after it.

    ``limit`` caps the document's text below the model's window (0: no cap). Snippets
    get up to ``context_tokens`` of the window beyond the document's text: they add to
    what the model sees of the current file instead of pushing it out. Where the window
    itself is the bound, half of it at most is kept for them.

    ``typed`` is text the user typed at the cursor since an earlier request whose prefix
    was ``prefix``. A template that takes ``middle`` gets it there, after the FIM middle
    marker, so the new prompt extends the earlier one and a local model evaluates only
    those characters (``with_typing_in_prefix`` is for the others). Its last word, with
    the space or sign before it, is left out of the prompt and becomes the answer's
    required start (``Piece.answer_start``): a prompt that ends inside a word, or on a
    space, makes the model continue from a token boundary the tokenizer would not have
    put there (``md = M`` then went on ``ardownIt``).
    """

    prefix: str
    suffix: str
    snippets: tuple[Snippet, ...] = ()
    context_tokens: int = 0
    limit: int = 0
    language: str = ""
    typed: str = ""

    def without_context(self) -> AroundCursor:
        return replace(self, snippets=())

    def with_typing_in_prefix(self) -> AroundCursor:
        """The same cursor with ``typed`` back in the prefix (an ordinary prompt)."""
        return replace(self, prefix=self.prefix + self.typed, typed="")

    def pieces(self, budget: int, count: TokenCounter) -> list[Piece]:
        share = min(self.context_tokens, int(budget * MAX_CONTEXT_SHARE)) if self.snippets else 0
        available = budget - share - (count([self.typed])[0] if self.typed else 0)
        document = min(self.limit, available) if self.limit else available
        fitted = fit_context(self.prefix, self.suffix, document, count)
        room = min(self.context_tokens, budget - fitted.prefix_tokens - fitted.suffix_tokens)
        chosen, report = fit_snippets(self.snippets, room, count, self.language)
        start = TYPED_TAIL.search(self.typed).group()  # type: ignore[union-attr]
        variables = {
            "prefix": fitted.prefix,
            "suffix": fitted.suffix,
            "context": chosen,
            "middle": self.typed[: len(self.typed) - len(start)],
        }
        return [Piece(variables, context=report, answer_start=start)]


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

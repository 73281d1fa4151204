"""What a feature hands the engine, and what it gets back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.models.base import CancelToken, TokenCounter
from codetune_lsp.prompts.template import PromptTemplate


class EngineError(Exception):
    """A failure the user should read: what went wrong and how to fix it.

    ``kind``: config, template, backend, timeout, output or engine.
    """

    def __init__(self, message: str, *, kind: str = "engine") -> None:
        super().__init__(message)
        self.kind = kind


class OutputInvalid(EngineError):
    """The model answered, but not in the form the template requires."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="output")


@dataclass(frozen=True)
class Piece:
    """One model call's share of the fitted text: variables, and the document lines
    (0-based, inclusive) it covers when it is a chunk."""

    variables: Mapping[str, Any]
    lines: tuple[int, int] | None = None
    # What went into the prompt besides the document, for the history (source, path, tokens).
    context: tuple[Mapping[str, Any], ...] = ()
    # Typed text the prompt leaves out: the answer must begin with it, and what is served
    # is what follows it (see ``AroundCursor``).
    answer_start: str = ""


class Fit(Protocol):
    """Text the engine fits into the model's window before rendering."""

    def pieces(self, budget: int, count: TokenCounter) -> list[Piece]:
        """Split or trim to ``budget`` tokens as counted by ``count``."""
        ...


@dataclass(frozen=True)
class EngineRequest:
    """One feature request: a template, a model profile, variables, and optionally the
    text to fit (``fit``) and how to turn the model's answer into what is served."""

    feature: str
    template: str
    model: str  # model profile name
    variables: Mapping[str, Any]
    label: str = "production"
    document: DocumentSnapshot | None = None
    unit_key: str = ""  # sticky experiment assignment (workspace and document)
    cancel: CancelToken | None = field(default=None, compare=False)
    max_new_tokens: int | None = None  # a feature's setting may lower the template's
    fit: Fit | None = None
    # Raw model text -> the text the user is shown (recorded as the served output).
    postprocess: Callable[[str], str] | None = field(default=None, compare=False)
    # Raw text so far -> whether it already holds all that ``postprocess`` keeps; the
    # backend then stops generating (checked as text arrives; see GenerationRequest).
    end_when: Callable[[str], bool] | None = field(default=None, compare=False)
    # Words the answer must begin with (see GenerationRequest.first_word).
    first_word: tuple[str, ...] = ()
    # Used instead of ``template`` when the model has no fill-in-the-middle format.
    fim_fallback: str | None = None
    # Seconds the model may take; past it the call is stopped and recorded as a timeout.
    timeout_s: float | None = None


@dataclass(frozen=True)
class EngineResult:
    execution_id: str
    text: str  # what is served (post-processed)
    json: Any
    finish_reason: str
    cache_hit: bool
    template: PromptTemplate
    version_id: int
    version: int
    arm: str | None
    model_id: str
    latency_ms: float
    recorded: Any = field(default=None, compare=False, repr=False)  # awaitable: committed id
    raw_text: str = ""  # the model's own answer
    lines: tuple[int, int] | None = None  # the piece's document lines, for chunked fits

"""The backend contract: request and result types, the ``Backend`` protocol, the one error type.

Nothing here imports torch or an HTTP client, so the engine can depend on it for free.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from codetune_lsp.settings import ModelProfile

FinishReason = Literal["stop", "length", "cancelled", "error"]
Role = Literal["system", "user", "assistant"]


class BackendError(Exception):
    """A backend failed; ``str()`` is one message naming the profile and the fix."""

    def __init__(self, profile: str, problem: str, fix: str, *, retryable: bool = False) -> None:
        self.profile = profile
        self.problem = problem
        self.fix = fix
        self.retryable = retryable
        super().__init__(f"model profile '{profile}': {problem}; {fix}")


class CancelToken:
    """Set once to stop a generation; safe to set from any thread or from the event loop."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    async def wait(self, poll_s: float = 0.01) -> None:
        """Return once cancelled (polls, so it needs no loop affinity)."""
        while not self._event.is_set():
            await asyncio.sleep(poll_s)


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    """One generation. Exactly one of ``prompt`` and ``messages`` is given.

    ``prompt`` is sent as is (a FIM or template-rendered prompt); ``messages`` are formatted
    with the family's chat format. ``temperature == 0`` means greedy decoding.
    """

    prompt: str | None = None
    messages: tuple[ChatMessage, ...] = ()
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: Mapping[str, Any] | None = None
    # The answer must begin with one of these words as a whole identifier (the names a
    # ``module.`` before the cursor can reach, less what is typed after the dot); empty:
    # free. Honoured by the in-process runtimes (llama.cpp, transformers); remote backends
    # ignore it.
    first_word: tuple[str, ...] = ()
    # The answer must begin with this text (characters typed at the cursor that the prompt
    # leaves out, so that the model picks its own tokens for them); it is part of the
    # output. Honoured by the in-process runtimes; the engine asks only those for it.
    starts_with: str = ""
    cancel: CancelToken | None = field(default=None, compare=False, hash=False)
    # Judges the text generated so far, at each new piece: True ends the generation there
    # (the caller has all it will keep, e.g. a completion that left the cursor's block).
    end_when: Callable[[str], bool] | None = field(default=None, compare=False, hash=False)
    # Lower runs first where a model serves several features: 0 completions (a user is
    # waiting at the cursor), 1 code actions, 2 diagnostics (background).
    priority: int = 1

    def __post_init__(self) -> None:
        if (self.prompt is None) == (not self.messages):
            raise ValueError("give exactly one of prompt and messages")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class GenerationResult:
    text: str
    finish_reason: FinishReason
    tokens_in: int
    tokens_out: int
    time_to_first_token_s: float | None
    duration_s: float
    model_id: str
    revision: str = ""
    # Parsed JSON when the request carried a schema and the output validated against it.
    json: Any = None
    error: str = ""


@dataclass(frozen=True)
class StreamDelta:
    """A piece of text as it is generated; the stream ends with one ``GenerationResult``."""

    text: str


StreamEvent = StreamDelta | GenerationResult


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    model_id: str = ""
    revision: str = ""


# Receives short stage messages while a model loads ("loading weights (nf4)", "ready").
ProgressCallback = Callable[[str], None]
# Token counts for several texts at once (one batched tokenizer call where there is one).
TokenCounter = Callable[[Sequence[str]], list[int]]
# Bytes per token assumed when the tokenizer is unknown: errs on the long side.
ESTIMATE_BYTES_PER_TOKEN = 3


def estimate_tokens(texts: Sequence[str]) -> list[int]:
    """An upper estimate of each text's tokens, for models whose tokenizer is not at hand."""
    return [math.ceil(len(text.encode("utf-8")) / ESTIMATE_BYTES_PER_TOKEN) for text in texts]


@dataclass(frozen=True)
class BackendInfo:
    """What a backend is, as the engine needs to know it before a request."""

    kind: str  # "local", "openai", "tgi" or a plugin's name
    fim_format: str | None  # FIM layout ``A{prefix}B{suffix}C``; None: no fill-in-the-middle
    context_length: int
    loaded: bool  # ready to generate (remote backends have nothing to load)
    count_tokens: TokenCounter = field(compare=False)
    exact_counts: bool  # False: ``count_tokens`` is an estimate (see ``estimate_tokens``)
    # Repository-level prompt markers (name token, file separator); None: the model has none.
    repo_markers: tuple[str, str] | None = None


@runtime_checkable
class Backend(Protocol):
    """What the engine calls. Implementations: local (transformers), openai, tgi, plugins."""

    name: str
    profile: ModelProfile

    def info(self) -> BackendInfo:
        """Kind, FIM format, window, loaded or not, and a token counter; cheap, no I/O."""
        ...

    def add_progress_listener(self, callback: ProgressCallback) -> None:
        """``callback(stage)`` receives loading stages on the event loop."""

    async def start(self) -> None:
        """Begin loading or connecting; idempotent. ``generate`` waits for it anyway."""

    async def ready(self) -> Any:
        """Return once the backend can generate (raises its ``BackendError`` otherwise)."""

    async def generate(self, request: GenerationRequest) -> GenerationResult: ...

    async def health(self) -> Health: ...

    async def close(self) -> None: ...

"""What the OpenAI-compatible and TGI backends share: prompts, cancellation, final results."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from codetune_lsp.models.base import (
    BackendError,
    BackendInfo,
    CancelToken,
    FinishReason,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
    StreamDelta,
    StreamEvent,
    estimate_tokens,
)
from codetune_lsp.models.http import RemoteClient
from codetune_lsp.models.profiles import family_for
from codetune_lsp.models.structured import check_output
from codetune_lsp.models.text import StopWatcher, truncate_at_stop
from codetune_lsp.settings import ModelProfile

T = TypeVar("T")
logger = logging.getLogger(__name__)


# What reading a JSON answer of the wrong shape raises (a list where a dict was expected...).
_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)


class _Cancelled(Exception):
    pass


async def race_cancel(work: Awaitable[T], cancel: CancelToken | None) -> T:
    """Await ``work`` unless ``cancel`` fires first; then the work (and its HTTP call) stops."""
    if cancel is None:
        return await work
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the caller was cancelled: stop the HTTP call too
        task.cancel()
        raise
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise _Cancelled


@dataclass
class Tally:
    """What a remote generation accumulates before it becomes a ``GenerationResult``."""

    request: GenerationRequest
    stops: tuple[str, ...]
    model_id: str
    revision: str
    started: float = field(default_factory=time.perf_counter)
    text: str = ""
    emitted: int = 0
    t_first: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    stopped: bool = False  # a stop string was found (and cut off)

    def add(self, piece: str) -> tuple[str, bool]:
        """Append streamed text; returns (text safe to release now, stop string seen)."""
        if piece and self.t_first is None:
            self.t_first = time.perf_counter()
        self.text += piece
        watch = StopWatcher(self.stops)
        hit = watch.find(self.text, len(piece))
        if hit >= 0:
            self.text = self.text[:hit]
            self.stopped = True
            return self._release(len(self.text)), True
        judge = self.request.end_when
        if judge is not None and piece and judge(self.text):
            self.stopped = True  # the caller has its whole answer: close the stream
            return self._release(len(self.text)), True
        return self._release(watch.safe_length(self.text)), False

    def _release(self, upto: int) -> str:
        if upto <= self.emitted:
            return ""
        out = self.text[self.emitted : upto]
        self.emitted = upto
        return out

    def result(self, reason: FinishReason) -> GenerationResult:
        text, hit = truncate_at_stop(self.text, self.stops)
        if (hit or self.stopped) and reason != "cancelled":
            reason = "stop"
        parsed, error = check_output(text, self.request.json_schema)
        if error and reason != "cancelled":
            reason = "error"
        now = time.perf_counter()
        return GenerationResult(
            text=text,
            finish_reason=reason,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            time_to_first_token_s=None if self.t_first is None else self.t_first - self.started,
            duration_s=now - self.started,
            model_id=self.model_id,
            revision=self.revision,
            json=parsed,
            error=error,
        )

    def tail(self) -> str:
        """Text held back for a possible stop string that never came."""
        text, _ = truncate_at_stop(self.text, self.stops)
        return self._release(len(text))


class RemoteBackend:
    """Base for HTTP backends; subclasses build payloads and read answers."""

    kind = "remote"

    def __init__(
        self,
        name: str,
        profile: ModelProfile,
        *,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.name = name
        self.profile = profile
        self.row = family_for(name, profile)
        self.client = RemoteClient(name, profile)
        self._listeners: list[ProgressCallback] = [progress] if progress else []

    @property
    def context_length(self) -> int:
        return self.profile.context_length or self.row.context_length

    def info(self) -> BackendInfo:
        """A server has nothing to load here; its tokenizer is not at hand, so counts are
        estimates."""
        fim = self.row.fim.template if self.row.fim else None
        return BackendInfo(
            self.kind, fim, self.context_length, True, estimate_tokens, False, self.row.repo
        )

    def add_progress_listener(self, callback: ProgressCallback) -> None:
        self._listeners.append(callback)

    async def start(self) -> None:
        for listener in self._listeners:
            listener(f"using {self.kind} server {self.client.base_url}")

    async def ready(self) -> None:
        await self.start()

    def prompt_text(self, request: GenerationRequest) -> str:
        if request.prompt is not None:
            return request.prompt
        return self.row.format_chat(request.messages)

    def stops(self, request: GenerationRequest) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*request.stop, *self.row.stop)))

    def tally(self, request: GenerationRequest) -> Tally:
        return Tally(request, self.stops(request), self.profile.id, self.profile.revision)

    async def count_tokens(self, text: str) -> int:
        """An upper estimate when the server cannot count for us."""
        return estimate_tokens([text])[0]

    def bad_shape(self, exc: BaseException) -> BackendError:
        """The error for an answer whose JSON did not have the shape the API promises."""
        logger.warning("%s: unexpected answer shape (%s: %s)", self.name, type(exc).__name__, exc)
        return BackendError(
            self.name,
            "the server's answer was not in the expected form",
            f"check that the server at {self.profile.url} speaks the {self.profile.backend} API",
        )

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        tally = self.tally(request)
        try:
            return await race_cancel(self._generate(request, tally), request.cancel)
        except _Cancelled:
            return tally.result("cancelled")
        except _SHAPE_ERRORS as exc:
            raise self.bad_shape(exc) from None

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """One producer task reads the HTTP stream; cancelling it closes the connection."""
        tally = self.tally(request)
        events: asyncio.Queue[StreamEvent | BaseException | None] = asyncio.Queue()

        async def produce() -> None:
            try:
                async for event in self._stream(request, tally):
                    events.put_nowait(event)
            except asyncio.CancelledError:
                raise
            except _SHAPE_ERRORS as exc:
                events.put_nowait(self.bad_shape(exc))
            except BaseException as exc:
                events.put_nowait(exc)
            finally:
                events.put_nowait(None)

        producer = asyncio.create_task(produce())
        try:
            while True:
                try:
                    event = await race_cancel(events.get(), request.cancel)
                except _Cancelled:
                    producer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await producer
                    while not events.empty():  # read before the cancel: the result has them
                        queued = events.get_nowait()
                        if isinstance(queued, StreamDelta):
                            yield queued
                    tail = tally.tail()
                    if tail:
                        yield StreamDelta(tail)
                    yield tally.result("cancelled")
                    return
                if event is None:
                    return
                if isinstance(event, BaseException):
                    raise event
                yield event
                if isinstance(event, GenerationResult):
                    return
        finally:
            if not producer.done():
                producer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producer

    async def close(self) -> None:
        await self.client.aclose()

    # -- for subclasses --------------------------------------------------------------------
    async def _generate(self, request: GenerationRequest, tally: Tally) -> GenerationResult:
        raise NotImplementedError

    def _stream(self, request: GenerationRequest, tally: Tally) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError


ChunkReader = Callable[[Any], tuple[str, FinishReason | None]]

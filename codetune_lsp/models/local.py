"""The local transformers backend: one worker thread per loaded model, a queue, batching.

The event loop only enqueues and awaits. The worker thread loads the model (reporting stage
messages), then takes requests from its queue, groups compatible ones (same sampling, no seed,
no schema) into one left-padded ``generate`` call, and stops each row on eos, stop string,
token budget or cancellation, checked after every decoding step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import importlib
import importlib.util
import itertools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from codetune_lsp.models.base import (
    BackendError,
    BackendInfo,
    CancelToken,
    FinishReason,
    GenerationRequest,
    GenerationResult,
    Health,
    ProgressCallback,
    StreamDelta,
    StreamEvent,
    estimate_tokens,
)
from codetune_lsp.models.profiles import LICENCE_NOTES, family_for, refuse_if_unsupported
from codetune_lsp.models.structured import check_output
from codetune_lsp.models.text import IncrementalText, StopWatcher, truncate_at_stop
from codetune_lsp.settings import ModelProfile

if TYPE_CHECKING:
    from codetune_lsp.models._hf import LoadedModel

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Slot:
    """One request as the worker sees it; ``step`` runs on the worker thread per token."""

    request: GenerationRequest
    prompt_text: str
    stops: tuple[str, ...]
    cancel: CancelToken
    model_id: str
    revision: str
    on_done: Callable[[GenerationResult | BaseException], None]
    on_delta: Callable[[str], None] | None = None
    enqueued: float = field(default_factory=time.perf_counter)
    tokens_in: int = 0
    steps: int = 0
    tokens: list[int] = field(default_factory=list)
    done: bool = False
    t_first: float | None = None
    _text: IncrementalText | None = None
    _watch: StopWatcher | None = None
    _emitted: int = 0
    _decode: Callable[[Sequence[int]], str] | None = None
    _stopped_at: int = -1

    def begin(self, tokens_in: int, decode: Callable[[Sequence[int]], str]) -> None:
        self.tokens_in = tokens_in
        self._decode = decode
        self._text = IncrementalText(decode)
        self._watch = StopWatcher(self.stops)

    def step(self, token: int, eos: frozenset[int]) -> bool:
        """Take one generated token; return True once this row must stop."""
        if self.done:
            return True
        assert self._text is not None and self._watch is not None
        self.steps += 1
        if self.t_first is None:
            self.t_first = time.perf_counter()
        if token in eos:
            self._finish("stop")
            return True
        self.tokens.append(token)
        delta = self._text.push(token)
        if delta:
            hit = self._watch.find(self._text.text, len(delta))
            if hit >= 0:
                self._stopped_at = hit
                self._finish("stop")
                return True
            if self._ends(self._text.text):
                self._finish("stop")
                return True
            if self.on_delta is not None:
                safe = self._watch.safe_length(self._text.text)
                if safe > self._emitted:
                    self.on_delta(self._text.text[self._emitted : safe])
                    self._emitted = safe
        if self.cancel.cancelled:
            self._finish("cancelled")
        elif self.steps >= self.request.max_new_tokens:
            self._finish("length")
        return self.done

    def _ends(self, text: str) -> bool:
        """The request's own judgement that its answer is complete (never fatal)."""
        judge = self.request.end_when
        if judge is None:
            return False
        try:
            return judge(text)
        except Exception:
            log.exception("end_when failed; the generation goes on")
            return False

    def finish_if_open(self, reason: FinishReason) -> None:
        if not self.done:
            self._finish(reason)

    def _finish(self, reason: FinishReason) -> None:
        self.done = True
        text = self._decode(self.tokens) if self._decode is not None else ""
        text, hit = truncate_at_stop(text, self.stops)
        if hit and reason != "cancelled":
            reason = "stop"
        if self.on_delta is not None and len(text) > self._emitted:
            self.on_delta(text[self._emitted :])
        now = time.perf_counter()
        parsed, error = check_output(text, self.request.json_schema)
        if error and reason != "cancelled":
            reason = "error"
        self.on_done(
            GenerationResult(
                text=text,
                finish_reason=reason,
                tokens_in=self.tokens_in,
                tokens_out=self.steps,
                time_to_first_token_s=None
                if self.t_first is None
                else self.t_first - self.enqueued,
                duration_s=now - self.enqueued,
                model_id=self.model_id,
                revision=self.revision,
                json=parsed,
                error=error,
            )
        )

    def fail(self, exc: BaseException) -> None:
        if not self.done:
            self.done = True
            self.on_done(exc)

    def batch_key(self) -> tuple[Any, ...] | None:
        """Requests with equal keys share one ``generate`` call; None runs alone."""
        r = self.request
        if r.seed is not None or r.first_word or r.starts_with:
            return None
        return ("greedy",) if r.greedy else ("sample", r.temperature, r.top_p)


# After a failed load, the next request retries it at most this often (doubling per failure).
LOAD_RETRY_FIRST_S = 1.0
LOAD_RETRY_MAX_S = 60.0
# Model construction uses process-global state (transformers' meta-device initialisation), so
# two models loading at once in one process could break each other: loads take turns.
_LOAD_LOCK = threading.Lock()
RUNTIMES = {
    "transformers": "codetune_lsp.models._hf",
    "llama.cpp": "codetune_lsp.models._llama",
}


def choose_runtime(profile: ModelProfile) -> str:
    """``transformers`` or ``llama.cpp`` for a local profile (auto: llama.cpp for GGUF)."""
    if profile.runtime != "auto":
        return profile.runtime
    from codetune_lsp.models.install import is_gguf_profile

    if is_gguf_profile(profile) and importlib.util.find_spec("llama_cpp") is not None:
        return "llama.cpp"
    return "transformers"


def import_runtime(runtime: str) -> Any:
    return importlib.import_module(RUNTIMES[runtime])


def _missing_runtime(name: str, runtime: str, exc: ImportError) -> BackendError:
    if runtime == "llama.cpp":
        return BackendError(
            name,
            f"the llama.cpp runtime needs llama-cpp-python ({exc.name} is missing)",
            "install it with `pip install 'codetune-lsp[llamacpp]'`, or set "
            f'models.{name}.runtime = "transformers"',
        )
    return BackendError(
        name,
        f"the local backend needs torch and transformers ({exc.name} is missing)",
        "install them with `pip install 'codetune-lsp[local]'` (CPU torch first)",
    )


class _SlotQueue:
    """Requests by priority (lower first), then arrival; ``None`` asks the worker to stop."""

    STOP_PRIORITY = 1 << 30

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Slot | None]] = queue.PriorityQueue()
        self._order = itertools.count()

    def put(self, slot: Slot | None) -> None:
        priority = self.STOP_PRIORITY if slot is None else slot.request.priority
        self._queue.put((priority, next(self._order), slot))

    def get(self, timeout: float | None = None) -> Slot | None:
        return self._queue.get(timeout=timeout)[2]

    def get_nowait(self) -> Slot | None:
        return self._queue.get_nowait()[2]

    def waiting_before(self, priority: int) -> bool:
        """Whether a request more urgent than ``priority`` is queued (a lock-only peek)."""
        with self._queue.mutex:  # PriorityQueue keeps its heap in ``queue`` under ``mutex``
            heap = self._queue.queue
            return bool(heap) and heap[0][0] < priority

    def take_before(self, priority: int) -> Slot | None:
        """The most urgent queued request if it is more urgent than ``priority``."""
        with self._queue.mutex:
            heap = self._queue.queue
            if not heap or heap[0][0] >= priority:
                return None
            _, _, slot = heapq.heappop(heap)
            self._queue.not_full.notify()
            return slot


class Preemption:
    """What a runtime that can pause a generation asks the worker between tokens."""

    def __init__(self, waiting: Callable[[int], bool], serve: Callable[[int], None]) -> None:
        self.waiting = waiting  # is a request more urgent than this priority queued?
        self.serve = serve  # run every such request now (the caller has paused its own)


class ModelWorker(threading.Thread):
    """Owns one model: loads it, then serves batches from its queue until ``stop``."""

    def __init__(
        self,
        name: str,
        profile: ModelProfile,
        progress: Callable[[str], None],
        runtime: str = "transformers",
    ) -> None:
        super().__init__(name=f"codetune-model-{name}", daemon=True)
        self.profile_name = name
        self.profile = profile
        self.row = family_for(name, profile)
        self.runtime = runtime
        self._progress = progress
        self.loaded: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue = _SlotQueue()
        self._pending: list[Slot] = []
        self._batch_wait = profile.batch_wait_ms / 1000
        # llama.cpp runs one sequence at a time: no batches, so a completion never waits for
        # a batch of diagnostics that was collected before it arrived.
        self._max_batch = 1 if runtime == "llama.cpp" else max(1, profile.max_batch_size)
        self.batches: list[int] = []  # sizes of the batches run, for tests and stats

    def submit(self, slot: Slot) -> None:
        self._queue.put(slot)

    def stop(self) -> None:
        self._queue.put(None)

    def run(self) -> None:
        try:
            runtime = import_runtime(self.runtime)
        except ImportError as exc:
            self.loaded.set_exception(_missing_runtime(self.profile_name, self.runtime, exc))
            return
        try:
            with _LOAD_LOCK:  # model construction touches process-global state (meta device)
                loaded = runtime.load(self.profile_name, self.profile, self.row, self._progress)
        except BaseException as exc:
            self.loaded.set_exception(exc)
            return
        self.loaded.set_result(loaded)
        self._serve(runtime, loaded)

    def _serve(self, runtime: Any, loaded: Any) -> None:
        while True:
            first = self._take_pending() if self._pending else self._queue.get()
            if first is None:
                break
            batch = self._collect(first)
            live = [s for s in batch if not self._drop_cancelled(s)]
            if live:
                self._run(runtime, loaded, live)
        gone = BackendError(self.profile_name, "the model was unloaded", "retry the request")
        for slot in self._pending:
            slot.fail(gone)
        while True:
            try:
                leftover = self._queue.get_nowait()
            except queue.Empty:
                break
            if leftover is not None:
                leftover.fail(gone)

    def _take_pending(self) -> Slot:
        best = min(self._pending, key=lambda slot: slot.request.priority)
        self._pending.remove(best)
        return best

    def _collect(self, first: Slot) -> list[Slot]:
        key = first.batch_key()
        if key is None or self._max_batch == 1:
            return [first]
        batch = [first]
        for slot in list(self._pending):
            if len(batch) < self._max_batch and slot.batch_key() == key:
                self._pending.remove(slot)
                batch.append(slot)
        deadline = time.perf_counter() + self._batch_wait
        while len(batch) < self._max_batch:
            remaining = deadline - time.perf_counter()
            try:
                nxt = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)
                break
            if nxt.batch_key() == key:
                batch.append(nxt)
            else:
                self._pending.append(nxt)
        return batch

    def _preemption(self, runtime: Any, loaded: Any) -> Preemption:
        """Lets a runtime that can pause (llama.cpp) serve a completion that arrives while it
        generates for a lower priority: it pauses, the worker runs the urgent requests, and
        the paused generation resumes where it was."""

        def serve(priority: int) -> None:
            while (slot := self._queue.take_before(priority)) is not None:
                if not self._drop_cancelled(slot):
                    self._run(runtime, loaded, [slot], preempt=False)

        return Preemption(self._queue.waiting_before, serve)

    @staticmethod
    def _drop_cancelled(slot: Slot) -> bool:
        if slot.cancel.cancelled:
            slot.begin(0, lambda ids: "")
            slot.finish_if_open("cancelled")
            return True
        return False

    def _run(self, runtime: Any, loaded: Any, batch: list[Slot], *, preempt: bool = True) -> None:
        self.batches.append(len(batch))
        try:
            constraints = [  # one per row: rows with other schemas, or none, share a batch
                None
                if s.request.json_schema is None
                else runtime.constraint(loaded, s.request.json_schema)
                for s in batch
            ]
            if preempt and getattr(runtime, "PAUSES", False):
                runtime.run_batch(loaded, batch, constraints, self._preemption(runtime, loaded))
            else:
                runtime.run_batch(loaded, batch, constraints)
        except BaseException as exc:  # keep serving: one failed batch must not kill the model
            error = (
                exc
                if isinstance(exc, BackendError)
                else _generation_error(loaded, exc, self.runtime)
            )
            for slot in batch:
                slot.fail(error)


def _generation_error(loaded: Any, exc: BaseException, runtime: str) -> BackendError:
    if runtime == "transformers":
        from codetune_lsp.models._hf import explain_load_error

        mapped = explain_load_error(loaded.name, loaded.profile, exc)
        if "memory" in mapped.problem:
            return mapped
    return BackendError(
        loaded.name,
        f"generation failed ({type(exc).__name__}: {str(exc)[:200]})",
        "check the server log; retry with a shorter prompt or fewer tokens",
    )


class LocalBackend:
    """A transformers model in this process, shared by every request for its profile."""

    kind = "local"

    def __init__(
        self, name: str, profile: ModelProfile, *, progress: ProgressCallback | None = None
    ) -> None:
        self.name = name
        self.profile = profile
        self.row = family_for(name, profile)
        refuse_if_unsupported(name, profile, self.row)
        self._listeners: list[ProgressCallback] = [progress] if progress else []
        self._worker: ModelWorker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.stages: list[str] = []
        self.runtime = choose_runtime(profile)
        self._failures = 0
        self._retry_at = 0.0

    # -- loading -------------------------------------------------------------------------
    def add_progress_listener(self, callback: ProgressCallback) -> None:
        """``callback(stage)`` runs on the event loop for each loading stage."""
        self._listeners.append(callback)

    def _report(self, stage: str) -> None:
        self.stages.append(stage)
        log.info("model profile '%s': %s", self.name, stage)
        loop = self._loop
        for callback in list(self._listeners):
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(callback, stage)
            else:
                callback(stage)

    def start_loading(self) -> ModelWorker:
        """Start the worker thread (loading in the background); idempotent, any thread."""
        with self._lock:
            failed = self._worker is not None and (
                self._worker.loaded.done() and self._worker.loaded.exception() is not None
            )
            if failed:
                # Retried, with backoff, rather than remembered: a load that failed because
                # of a passing condition (memory, a file being installed) recovers by itself.
                now = time.monotonic()
                if now < self._retry_at:
                    return self._worker  # type: ignore[return-value]
                self._failures += 1
                delay = min(LOAD_RETRY_MAX_S, LOAD_RETRY_FIRST_S * 2 ** (self._failures - 1))
                self._retry_at = now + delay
                self._report(f"loading failed; retrying now, next retry in {delay:g} s at most")
            if self._worker is None or failed:
                note = LICENCE_NOTES.take(self.row)
                if note:
                    self._report(f"licence: {note}")
                self._worker = ModelWorker(self.name, self.profile, self._report, self.runtime)
                self._worker.start()
            return self._worker

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.start_loading()

    async def ready(self) -> LoadedModel:
        """Wait until the model is loaded (raises the loading ``BackendError``)."""
        await self.start()
        assert self._worker is not None
        # Shielded: cancelling one waiting request must not cancel the shared load itself
        # (wrap_future passes a cancellation on to the concurrent future).
        return await asyncio.shield(asyncio.wrap_future(self._worker.loaded))

    @property
    def loaded(self) -> LoadedModel | None:
        worker = self._worker
        if worker is None or not worker.loaded.done() or worker.loaded.exception():
            return None
        return worker.loaded.result()

    @property
    def loaded_facts(self) -> dict[str, str]:
        """Where and how the model runs, for ``models check`` (empty until loaded)."""
        loaded = self.loaded
        if loaded is None:
            return {}
        return {
            "device": loaded.device,
            "dtype": loaded.dtype,
            "quantization": loaded.quantization,
            "memory": f"{loaded.footprint_bytes() / 2**20:.1f} MiB (weights and buffers)",
            "revision": loaded.revision or "(local files)",
            "context": str(loaded.context_length),
            "fim": "yes" if loaded.fim_enabled else "no",
        }

    @property
    def context_length(self) -> int:
        loaded = self.loaded
        if loaded is not None:
            return loaded.context_length
        return self.profile.context_length or self.row.context_length

    def info(self) -> BackendInfo:
        """Before loading: the family table's facts and estimated counts; after: the
        tokenizer's exact counts, and FIM only where the tokenizer has its tokens."""
        loaded = self.loaded
        fim = self.row.fim.template if self.row.fim else None
        repo = self.row.repo
        if loaded is None:
            return BackendInfo(
                self.kind, fim, self.context_length, False, estimate_tokens, False, repo
            )
        fim, repo = (fim, repo) if loaded.fim_enabled else (None, None)
        count = loaded.count_tokens_batch  # the runtime's own tokenizer (exact)
        return BackendInfo(self.kind, fim, loaded.context_length, True, count, True, repo)

    @property
    def batch_sizes(self) -> list[int]:
        return list(self._worker.batches) if self._worker else []

    # -- generation ----------------------------------------------------------------------
    def _slot(
        self,
        loaded: LoadedModel,
        request: GenerationRequest,
        on_done: Callable[[GenerationResult | BaseException], None],
        on_delta: Callable[[str], None] | None,
    ) -> Slot:
        if request.prompt is not None:
            prompt = request.prompt
        else:
            own = loaded.format_chat(request.messages)  # the model's own chat template
            prompt = own if own is not None else self.row.format_chat(request.messages)
        stops = tuple(dict.fromkeys((*request.stop, *self.row.stop)))
        tokens_in = loaded.count_tokens(prompt)
        if tokens_in + request.max_new_tokens > loaded.context_length:
            raise BackendError(
                self.name,
                f"the prompt has {tokens_in} tokens and {request.max_new_tokens} more were asked "
                f"for, but the context holds {loaded.context_length}",
                "fit the prompt to the context (count_tokens) or lower max_new_tokens",
            )
        return Slot(
            request=request,
            prompt_text=prompt,
            stops=stops,
            cancel=request.cancel or CancelToken(),
            model_id=loaded.model_id,
            revision=loaded.revision,
            on_done=on_done,
            on_delta=on_delta,
        )

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        loaded = await self.ready()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[GenerationResult] = loop.create_future()

        def done(outcome: GenerationResult | BaseException) -> None:
            loop.call_soon_threadsafe(_settle, future, outcome)

        slot = self._slot(loaded, request, done, None)
        assert self._worker is not None
        self._worker.submit(slot)
        try:
            return await future
        except asyncio.CancelledError:
            slot.cancel.cancel()  # stops the generation itself, not just the wait
            raise

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        loaded = await self.ready()
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[StreamEvent | BaseException] = asyncio.Queue()

        def done(outcome: GenerationResult | BaseException) -> None:
            loop.call_soon_threadsafe(events.put_nowait, outcome)

        def delta(text: str) -> None:
            loop.call_soon_threadsafe(events.put_nowait, StreamDelta(text))

        slot = self._slot(loaded, request, done, delta)
        assert self._worker is not None
        self._worker.submit(slot)
        try:
            while True:
                event = await events.get()
                if isinstance(event, BaseException):
                    raise event
                yield event
                if isinstance(event, GenerationResult):
                    return
        finally:
            slot.cancel.cancel()  # a consumer that stops early stops the generation

    async def count_tokens(self, text: str) -> int:
        loaded = await self.ready()
        return loaded.count_tokens(text)

    async def health(self) -> Health:
        worker = self._worker
        if worker is None:
            return Health(False, "not loaded yet", self.profile.id)
        if not worker.loaded.done():
            return Health(False, self.stages[-1] if self.stages else "loading", self.profile.id)
        exc = worker.loaded.exception()
        if exc is not None:
            return Health(False, str(exc), self.profile.id)
        loaded = worker.loaded.result()
        return Health(
            worker.is_alive(),
            f"loaded on {loaded.device} ({loaded.dtype}, {loaded.quantization})",
            loaded.model_id,
            loaded.revision,
        )

    async def close(self) -> None:
        worker = self._worker
        if worker is None:
            return
        worker.stop()
        await asyncio.to_thread(worker.join, 30)
        self._worker = None


def _settle(future: asyncio.Future[GenerationResult], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)

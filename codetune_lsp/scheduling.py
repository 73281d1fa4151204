"""Per-document scheduling of model work on the event loop.

``LatestWins`` (completions): a new request for a document supersedes the previous one.
The superseded request is cancelled (its generation stops) and answers ``None``. Requests are
debounced, and per document at most one job runs at a time.

``Coalescing`` (diagnostics): per document one run at a time and at most one waiting. The
waiting run is replaced by newer requests, so it always analyses the latest version.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class Superseded(Exception):
    """A newer request for the same document replaced this one."""


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    current: asyncio.Task[object] | None = None
    in_flight: int = 0
    peak: int = 0


class LatestWins:
    """Debounce, cancel the previous request, and keep one job in flight per key."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def peak_in_flight(self, key: str) -> int:
        slot = self._slots.get(key)
        return slot.peak if slot else 0

    async def run(
        self,
        key: str,
        job: Callable[[], Awaitable[T]],
        debounce_s: float = 0.0,
    ) -> T | None:
        """Run ``job`` unless a newer call for ``key`` arrives first; None if superseded."""
        slot = self._slots.setdefault(key, _Slot())
        me = asyncio.current_task()
        previous = slot.current
        slot.current = me
        if previous is not None and previous is not me and not previous.done():
            previous.cancel()
        try:
            if debounce_s > 0:
                await asyncio.sleep(debounce_s)
            async with slot.lock:  # the previous job, cancelled, finishes before we start
                if slot.current is not me:
                    return None
                slot.in_flight += 1
                slot.peak = max(slot.peak, slot.in_flight)
                try:
                    return await job()
                finally:
                    slot.in_flight -= 1
        except asyncio.CancelledError:
            if slot.current is not me:  # superseded, not cancelled by the client
                uncancel = getattr(me, "uncancel", None)
                if uncancel is not None:
                    uncancel()
                return None
            raise
        finally:
            if slot.current is me:
                slot.current = None


class Coalescing(Generic[T]):
    """One run per key at a time, plus at most one waiting run that newer calls replace."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[T]] = {}
        self._waiting: dict[str, tuple[Callable[[], Awaitable[T]], asyncio.Future[T]]] = {}

    def submit(self, key: str, job: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """Schedule ``job``; a job it replaces in the queue fails with Superseded."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if key not in self._running:
            self._start(key, job, future)
            return future
        replaced = self._waiting.get(key)
        if replaced is not None and not replaced[1].done():
            replaced[1].set_exception(Superseded())
            replaced[1].exception()  # mark retrieved: nobody may be awaiting it
        self._waiting[key] = (job, future)
        return future

    def _start(self, key: str, job: Callable[[], Awaitable[T]], future: asyncio.Future[T]) -> None:
        task = asyncio.ensure_future(job())
        self._running[key] = task

        def finished(done: asyncio.Task[T]) -> None:
            self._running.pop(key, None)
            if not future.done():
                if done.cancelled():
                    future.cancel()
                elif done.exception() is not None:
                    future.set_exception(done.exception())  # type: ignore[arg-type]
                else:
                    future.set_result(done.result())
            queued = self._waiting.pop(key, None)
            if queued is not None and not queued[1].done():
                self._start(key, *queued)

        task.add_done_callback(finished)

    def busy(self, key: str) -> bool:
        return key in self._running

    async def aclose(self) -> None:
        for _, future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        for task in list(self._running.values()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

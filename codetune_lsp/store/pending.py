"""A queued write's handle: :class:`Pending` (no SQLAlchemy here, so the engine can hand one
out before the store is open)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Generator
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Pending(Generic[T]):
    """A write that was queued: await it (asyncio) or call ``result()`` (threads).

    It resolves after the transaction holding the write committed; it raises the write's error
    otherwise. ``id`` is the new row's id when it is known up front (executions). Waiting on
    it calls ``hurry``: a writer that holds its writes for a pause writes at once when someone
    waits for one.
    """

    __slots__ = ("_future", "_hurry", "id")

    def __init__(
        self,
        future: Future[T],
        id: str | None = None,
        hurry: Callable[[], None] | None = None,
    ) -> None:
        self._future = future
        self._hurry = hurry
        self.id = id

    @classmethod
    def resolved(cls, value: T, id: str | None = None) -> Pending[T]:
        future: Future[T] = Future()
        future.set_result(value)
        return cls(future, id)

    def __await__(self) -> Generator[Any, None, T]:
        # Not asyncio.wrap_future: cancelling the awaiting task (a cancelled LSP request) must
        # not cancel the write itself, and the writer thread must never see a cancelled future.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._wanted()

        def forward(done: Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_copy_outcome, done, waiter)

        self._future.add_done_callback(forward)
        return waiter.__await__()

    def result(self, timeout: float | None = None) -> T:
        self._wanted()
        return self._future.result(timeout)

    def _wanted(self) -> None:
        if self._hurry is not None and not self._future.done():
            self._hurry()

    def done(self) -> bool:
        return self._future.done()

    @property
    def future(self) -> Future[T]:
        return self._future


def _copy_outcome(source: Future[Any], waiter: asyncio.Future[Any]) -> None:
    if waiter.done():  # the awaiting task was cancelled
        return
    exc = source.exception()
    if exc is not None:
        waiter.set_exception(exc)
    else:
        waiter.set_result(source.result())

"""How a handler fails: passive requests answer empty, user-triggered ones explain.

A passive request (completion, inline completion, the code-action list, pull diagnostics)
is sent by the editor on its own, many times a minute: any failure becomes its empty answer
plus one log line, never an error pop-up or a traceback. A user-triggered request (resolving
or running an action) answers ``RequestFailed`` (-32803) with a message the user can act on.
Protocol errors the handler raises on purpose (bad params, cancelled, content modified, an
unopened document) pass through unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pygls.exceptions import JsonRpcException

from codetune_lsp.documents import DocumentNotOpen

logger = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[..., Awaitable[T]]
_PROTOCOL_ERRORS = (JsonRpcException, DocumentNotOpen)


class RequestFailed(JsonRpcException):
    """LSP ``RequestFailed``: the request was valid but the server could not do it."""

    CODE = -32803
    MESSAGE = "Request failed"

    def __init__(self, message: str) -> None:
        super().__init__(code=self.CODE, message=message)


def describe(exc: BaseException) -> str:
    """One line naming the failure (its class when it has no message)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def passive(empty: Callable[[], T]) -> Callable[[Handler[T]], Handler[T]]:
    """Wrap a passive request handler: a failure answers ``empty()`` and logs one line."""

    def wrap(handler: Handler[T]) -> Handler[T]:
        @functools.wraps(handler)
        async def guarded(ls: Any, params: Any) -> T:
            try:
                return await handler(ls, params)
            except (*_PROTOCOL_ERRORS, asyncio.CancelledError):
                raise
            except Exception as exc:
                logger.warning("%s answered empty: %s", handler.__name__, describe(exc))
                return empty()

        return guarded

    return wrap


def user_triggered(handler: Handler[T]) -> Handler[T]:
    """Wrap a user-triggered handler: a failure answers RequestFailed with its reason."""

    @functools.wraps(handler)
    async def guarded(ls: Any, *args: Any) -> T:
        try:
            return await handler(ls, *args)
        except (*_PROTOCOL_ERRORS, asyncio.CancelledError):
            raise
        except Exception as exc:
            logger.warning("%s failed: %s", handler.__name__, describe(exc))
            raise RequestFailed(f"codetune: {describe(exc)}") from exc

    return guarded

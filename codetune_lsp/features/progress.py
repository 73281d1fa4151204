"""``$/progress`` for long work: one small API over pygls, tolerant of clients without it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from lsprotocol import types

logger = logging.getLogger(__name__)


async def begin(
    server: Any, title: str, message: str = "", cancellable: bool = False
) -> str | None:
    """Create a progress token and begin; None when the client does not do progress."""
    window = server.client_capabilities.window
    if not (window and window.work_done_progress):
        return None
    token = f"codetune-{uuid.uuid4().hex[:12]}"
    # Shielded: a cancel arriving while the client creates the token must not cancel the
    # pending request itself (its answer would then land on a cancelled future).
    creation = asyncio.ensure_future(server.work_done_progress.create_async(token))
    try:
        await asyncio.shield(creation)
    except asyncio.CancelledError:
        creation.add_done_callback(lambda _: _forget(server, token))
        raise
    except Exception:  # the client refused or never answered: carry on without
        logger.info("the client did not accept a progress token")
        _forget(server, token)
        return None
    server.work_done_progress.begin(
        token,
        types.WorkDoneProgressBegin(title=title, message=message or None, cancellable=cancellable),
    )
    return token


def report(server: Any, token: str | None, message: str) -> None:
    if token is not None:
        server.work_done_progress.report(token, types.WorkDoneProgressReport(message=message))


def end(server: Any, token: str | None, message: str) -> None:
    if token is not None:
        server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
        _forget(server, token)


def _forget(server: Any, token: str) -> None:
    """pygls keeps every token it has seen; drop ours once it is over."""
    server.work_done_progress.tokens.pop(token, None)

"""Watch the editor's process so the server never outlives it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psutil

POLL_INTERVAL_S = 1.0


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


async def watch_process(
    pid: int, on_exit: Callable[[], None], interval: float = POLL_INTERVAL_S
) -> None:
    """Call ``on_exit`` once ``pid`` has gone; poll every ``interval`` seconds."""
    while process_alive(pid):
        await asyncio.sleep(interval)
    on_exit()

"""Watch the editor's process so the server never outlives it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

POLL_INTERVAL_S = 1.0


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    import psutil  # here: start-up does not wait for it (about 12 ms)

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


async def watch_process(
    pid: int, on_exit: Callable[[], None], interval: float = POLL_INTERVAL_S
) -> None:
    """Call ``on_exit`` once ``pid`` has gone; poll every ``interval`` seconds, the first
    time one interval after start-up (which then does not wait for the check)."""
    while True:
        await asyncio.sleep(interval)
        if not process_alive(pid):
            break
    on_exit()

"""httpx, imported without its command-line client.

httpx's package imports its CLI (rich and pygments, ~80 ms) whenever those are installed, and
falls back to a stub on ImportError. The backends never run that CLI, so a None entry in
``sys.modules`` skips it. It only matters before httpx is first imported in the process.
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx

__all__ = ["httpx"]

# What httpcore imports on a client's first request (it picks its async primitives then):
# ~45 ms, paid on the event loop unless ``preload`` ran first on another thread.
FIRST_REQUEST_MODULES = (
    "anyio",
    "anyio._backends._asyncio",
    "anyio.lowlevel",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "anyio.to_thread",
)


def preload() -> None:
    """Import what a first request would, where it is importable (anyio is optional)."""
    import importlib

    for name in FIRST_REQUEST_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            return

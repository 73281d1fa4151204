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

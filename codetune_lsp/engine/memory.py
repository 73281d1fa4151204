"""Responses remembered in this process in front of the store's cache."""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

# Hits served on the event loop, no thread hop. Keys include the template version, so a new
# version misses.
MEMORY_CACHE_ENTRIES = 256


class ResponseMemory:
    """A small LRU with the cache's time to live."""

    def __init__(self, ttl: timedelta | None, size: int = MEMORY_CACHE_ENTRIES) -> None:
        self._ttl_s = ttl.total_seconds() if ttl else 0.0
        self._size = size
        self._entries: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    def get(self, key: str) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        response, expires = entry
        if expires and time.monotonic() > expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return response

    def put(self, key: str, response: Any) -> None:
        expires = time.monotonic() + self._ttl_s if self._ttl_s else 0.0
        self._entries[key] = (response, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

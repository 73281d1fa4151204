"""Sortable execution ids: ULIDs (48-bit millisecond time + 80 random bits, Crockford base32).

Within one process the ids are strictly increasing even inside one millisecond (the random
part is incremented), so ``ORDER BY id`` is creation order. Across processes the order inside
one millisecond is arbitrary, which is fine for history.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {ch: i for i, ch in enumerate(_ALPHABET)}
ULID_LENGTH = 26
_RANDOM_MAX = (1 << 80) - 1


class UlidGenerator:
    """Monotonic ULIDs; one module-level instance serves the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0
        self._pid = os.getpid()

    def new(self, now_ms: int | None = None) -> str:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        with self._lock:
            if self._pid != os.getpid():  # forked: never share a random sequence
                self._pid, self._last_ms = os.getpid(), -1
            if ms <= self._last_ms:
                ms = self._last_ms
                rnd = self._last_random + 1
                if rnd > _RANDOM_MAX:  # 2**80 ids in one ms: move to the next ms
                    ms, rnd = ms + 1, int.from_bytes(os.urandom(10), "big") >> 1
            else:
                # The top bit stays clear so increments have room before overflowing.
                rnd = int.from_bytes(os.urandom(10), "big") >> 1
            self._last_ms, self._last_random = ms, rnd
        return encode(ms, rnd)


_generator = UlidGenerator()


def encode(ms: int, randomness: int) -> str:
    """Encode a millisecond timestamp and 80 random bits as a 26-character ULID."""
    if not 0 <= ms < (1 << 48) or not 0 <= randomness <= _RANDOM_MAX:
        raise ValueError("ULID timestamp or randomness out of range")
    value = (ms << 80) | randomness
    out = []
    for _ in range(ULID_LENGTH):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_ulid(now_ms: int | None = None) -> str:
    """Return a new ULID, monotonic within this process."""
    return _generator.new(now_ms)


def ulid_time(ulid: str) -> datetime:
    """The creation time encoded in a ULID (UTC)."""
    value = 0
    for ch in ulid.upper():
        value = (value << 5) | _DECODE[ch]
    return datetime.fromtimestamp((value >> 80) / 1000, tz=UTC)


def is_ulid(text: str) -> bool:
    """Whether ``text`` is a well-formed ULID."""
    return (
        len(text) == ULID_LENGTH
        and text[0] in "01234567"
        and all(ch in _DECODE for ch in text.upper())
    )

"""Token-by-token text: incremental detokenisation and stop strings (no torch needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Decode = Callable[[Sequence[int]], str]


class IncrementalText:
    """Turn a growing list of token ids into text deltas without re-decoding everything.

    Byte-level BPE can split one character over several tokens, so text is released only
    once it no longer ends in an incomplete sequence (U+FFFD).
    """

    def __init__(self, decode: Decode) -> None:
        self._decode = decode
        self.ids: list[int] = []
        self._prefix = 0
        self._read = 0
        self.text = ""

    def push(self, token: int) -> str:
        self.ids.append(token)
        before = self._decode(self.ids[self._prefix : self._read])
        after = self._decode(self.ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            delta = after[len(before) :]
            self._prefix, self._read = self._read, len(self.ids)
            self.text += delta
            return delta
        return ""


class StopWatcher:
    """Finds the first stop string in generated text and holds back a possible prefix of one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._longest = max((len(s) for s in self.stops), default=0)

    def find(self, text: str, new_chars: int) -> int:
        """Index where the earliest stop string starts, or -1; only the new tail is searched."""
        if not self.stops:
            return -1
        start = max(0, len(text) - new_chars - self._longest + 1)
        hits = [i for i in (text.find(s, start) for s in self.stops) if i >= 0]
        return min(hits) if hits else -1

    def safe_length(self, text: str) -> int:
        """How much of ``text`` can be released without leaking the start of a stop string."""
        if not self.stops:
            return len(text)
        for keep in range(min(self._longest - 1, len(text)), 0, -1):
            tail = text[-keep:]
            if any(s.startswith(tail) for s in self.stops):
                return len(text) - keep
        return len(text)


def truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string; report whether one was found."""
    index = StopWatcher(stops).find(text, len(text))
    return (text[:index], True) if index >= 0 else (text, False)

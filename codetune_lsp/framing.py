"""LSP base-protocol framing (``Content-Length`` headers) that survives bad input.

The parser is fed raw bytes and yields complete bodies or framing errors. Memory stays
bounded: headers are capped, bodies are capped, and an oversized body is discarded as it
streams past instead of being buffered. It resynchronises on the next header it finds.

Resynchronisation relies on one fact: the byte sequence ``Content-Length: <digits>\\r\\n``
cannot occur inside valid JSON (raw CR/LF are not allowed in JSON strings, and the words are
not JSON outside strings). So when it shows up inside a body, the previous frame was
truncated and the next frame starts there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CONTENT_LENGTH = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8 * 1024

_HEADER_END = b"\r\n\r\n"
_FRAME_START = re.compile(rb"(?i)content-length:[ \t]*\d+\r\n")
# One header line: an HTTP token as the name, a value without control characters.
_HEADER_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\x00-\x08\x0a-\x1f\x7f]*")
# Longest prefix of a frame start that might be split across two reads.
_OVERLAP = 64


@dataclass(frozen=True)
class Frame:
    """One complete message body."""

    body: bytes


@dataclass(frozen=True)
class FramingError:
    """Input that was not a valid frame and was discarded."""

    reason: str
    discarded: int


Event = Frame | FramingError


class FrameParser:
    """Incremental, bounded parser for the LSP base protocol."""

    def __init__(
        self,
        max_content_length: int = MAX_CONTENT_LENGTH,
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        self.max_content_length = max_content_length
        self.max_header_bytes = max_header_bytes
        self._buf = bytearray()
        self._body_length: int | None = None  # set while reading a body
        self._skip_remaining = 0  # bytes of an oversized body still to discard
        self._scanned = 0  # how much of the pending body was searched for a frame start

    @property
    def buffered(self) -> int:
        """Bytes held right now (for tests of boundedness)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        self._buf += data
        events: list[Event] = []
        while True:
            if self._skip_remaining:
                if not self._discard_oversized(events):
                    break
            elif self._body_length is None:
                if not self._read_header(events):
                    break
            elif not self._read_body(events):
                break
        return events

    # -- states -----------------------------------------------------------------

    def _read_header(self, events: list[Event]) -> bool:
        end = self._buf.find(_HEADER_END)
        if end < 0:
            if len(self._buf) > self.max_header_bytes:
                return self._resync(events, "header too long or not terminated")
            return False
        block_end = end + len(_HEADER_END)
        if end > self.max_header_bytes:
            return self._resync(events, "header too long", block_end)
        # A second frame start inside this header block means the block is damaged (say a
        # junk line without CRLF): the frame that starts there is the one to read.
        inner = _FRAME_START.search(self._buf, 1, end + 2)
        if inner is not None:
            reason = "damaged header: a new header began inside it"
            events.append(FramingError(reason, inner.start()))
            del self._buf[: inner.start()]
            return True
        length = _content_length(bytes(self._buf[:end]))
        if length is None:
            return self._resync(events, "missing or invalid Content-Length header", block_end)
        del self._buf[: end + len(_HEADER_END)]
        if length > self.max_content_length:
            self._skip_remaining = length
            events.append(
                FramingError(
                    f"Content-Length {length} exceeds the limit of {self.max_content_length}",
                    end + len(_HEADER_END),
                )
            )
            return True
        self._body_length = length
        self._scanned = 0
        return True

    def _read_body(self, events: list[Event]) -> bool:
        length = self._body_length
        assert length is not None
        window = min(len(self._buf), length)
        found = _FRAME_START.search(self._buf, max(0, self._scanned - _OVERLAP), window + _OVERLAP)
        if found is not None and found.start() < window:
            events.append(
                FramingError("truncated message: a new header began inside it", found.start())
            )
            del self._buf[: found.start()]
            self._body_length = None
            return True
        if len(self._buf) < length:
            self._scanned = len(self._buf)
            return False
        events.append(Frame(bytes(self._buf[:length])))
        del self._buf[:length]
        self._body_length = None
        return True

    def _discard_oversized(self, events: list[Event]) -> bool:
        found = _FRAME_START.search(self._buf)
        if found is not None and found.start() < self._skip_remaining:
            # The oversized claim was a lie or the frame was cut short: a new one starts here.
            del self._buf[: found.start()]
            self._skip_remaining = 0
            return True
        if len(self._buf) >= self._skip_remaining:
            del self._buf[: self._skip_remaining]
            self._skip_remaining = 0
            return True
        # Keep a short tail: it may hold the first bytes of a header split across reads.
        drop = len(self._buf) - min(_OVERLAP, len(self._buf))
        del self._buf[:drop]
        self._skip_remaining -= drop
        return False

    def _resync(self, events: list[Event], reason: str, block_end: int | None = None) -> bool:
        """Drop bad bytes: up to the next frame start, else the whole bad header block,
        else all but a short tail. Returns whether parsing can go on right away."""
        found = _FRAME_START.search(self._buf, 1)
        if found is not None:
            cut = found.start()
        elif block_end is not None:
            cut = block_end
        else:
            cut = max(0, len(self._buf) - _OVERLAP)
        events.append(FramingError(reason, cut))
        del self._buf[:cut]
        return found is not None or block_end is not None


def _content_length(header: bytes) -> int | None:
    length: int | None = None
    for line in header.split(b"\r\n"):
        if _HEADER_LINE.fullmatch(line) is None:
            return None
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            text = value.strip()
            if not text.isdigit() or len(text) > 12:
                return None
            length = int(text)
    return length


def encode_frame(body: bytes) -> bytes:
    """Frame a body for sending."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body

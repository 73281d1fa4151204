"""Framing: valid streams parse however they are split; bad input is bounded and survivable."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from codetune_lsp.framing import Frame, FrameParser, FramingError, encode_frame

json_bodies = st.lists(
    st.dictionaries(st.text(max_size=8), st.text(max_size=40), max_size=4), min_size=1, max_size=6
).map(lambda items: [json.dumps({"jsonrpc": "2.0", "params": i}).encode() for i in items])


def feed_in_pieces(parser: FrameParser, data: bytes, cuts: list[int]) -> list:
    events, start = [], 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        events += parser.feed(data[start:cut])
        start = cut
    return events


@given(bodies=json_bodies, cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_any_split_of_a_valid_stream_yields_the_same_bodies(bodies, cuts) -> None:
    stream = b"".join(encode_frame(b) for b in bodies)
    events = feed_in_pieces(FrameParser(), stream, cuts)
    assert events == [Frame(b) for b in bodies]


@given(
    bodies=json_bodies,
    garbage=st.binary(min_size=1, max_size=300).filter(lambda g: b"Content-Length" not in g),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
@settings(max_examples=200)
def test_garbage_between_frames_is_skipped_and_later_frames_survive(bodies, garbage, cuts) -> None:
    tail = encode_frame(b'{"jsonrpc": "2.0", "method": "last"}')
    stream = b"".join(encode_frame(b) for b in bodies) + garbage + b"\r\n\r\n" + tail
    events = feed_in_pieces(FrameParser(), stream, cuts)
    frames = [e for e in events if isinstance(e, Frame)]
    assert frames[: len(bodies)] == [Frame(b) for b in bodies]
    assert frames[-1] == Frame(tail.split(b"\r\n\r\n", 1)[1])
    assert any(isinstance(e, FramingError) for e in events)


def test_truncated_frame_resynchronises_on_the_next_header() -> None:
    parser = FrameParser()
    good = encode_frame(b'{"id": 2}')
    events = parser.feed(b'Content-Length: 500\r\n\r\n{"id": 1, "cut' + good)
    assert isinstance(events[0], FramingError) and "truncated" in events[0].reason
    assert events[1:] == [Frame(b'{"id": 2}')]


def test_huge_content_length_is_discarded_without_buffering_it() -> None:
    parser = FrameParser(max_content_length=1024)
    events = parser.feed(b"Content-Length: 99999999999\r\n\r\n")
    assert isinstance(events[0], FramingError) and "exceeds" in events[0].reason
    for _ in range(100):  # 6.4 MB of the oversized body streams past
        assert parser.feed(b"x" * 65536) == []
        assert parser.buffered <= 64
    tail = parser.feed(encode_frame(b"{}"))
    assert tail == [Frame(b"{}")]


def test_endless_header_line_is_bounded() -> None:
    parser = FrameParser(max_header_bytes=1024)
    errors = []
    for _ in range(50):
        errors += parser.feed(b"A" * 4096)
        assert parser.buffered <= 1024 + 4096
    assert errors and all(isinstance(e, FramingError) for e in errors)
    assert parser.feed(b"\r\n\r\n" + encode_frame(b"[]"))[-1] == Frame(b"[]")


def test_header_names_are_case_insensitive_and_extra_headers_ignored() -> None:
    body = b'{"a": 1}'
    raw = b"content-length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"
    assert FrameParser().feed(raw % len(body) + body) == [Frame(body)]


def test_missing_or_bad_content_length_is_an_error_not_a_hang() -> None:
    parser = FrameParser()
    events = parser.feed(b"Content-Type: x\r\n\r\n" + b"Content-Length: abc\r\n\r\n")
    assert len(events) == 2 and all(isinstance(e, FramingError) for e in events)
    assert parser.feed(encode_frame(b"{}")) == [Frame(b"{}")]


def test_a_junk_header_line_does_not_swallow_the_next_request() -> None:
    body = b'{"jsonrpc": "2.0", "method": "junk"}'.ljust(57)
    good = b'{"jsonrpc": "2.0", "id": 2, "method": "shutdown"}'
    events = FrameParser().feed(b"Content-Length: 57\r\n-\n" + body + encode_frame(good))
    assert events[-1] == Frame(good)
    assert any(isinstance(e, FramingError) for e in events)


_JUNK_PIECES = [
    b"Content-Length: ",
    b"content-length:",
    b"Content-Type: x",
    b"57",
    b"3",
    b"0",
    b"-",
    b":",
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b" ",
    b"\t",
    b"{",
    b'"a": 1}',
    b"\x00",
    b"\xff",
]


def test_seeded_header_fuzz_never_loses_the_request_that_follows() -> None:
    """6,000 probes: random damaged headers and bodies, then one valid request, fed in
    random pieces. The valid request must always come out whole."""
    rng = random.Random(15_2)
    good = b'{"jsonrpc": "2.0", "id": 7, "method": "shutdown"}'
    lost = []
    for probe in range(6000):
        junk = b"".join(rng.choice(_JUNK_PIECES) for _ in range(rng.randint(1, 12)))
        junk += bytes(rng.randrange(32, 127) for _ in range(rng.choice([0, 0, 5, 57, 200])))
        stream = junk + encode_frame(good)
        cuts = [rng.randrange(len(stream) + 1) for _ in range(rng.randint(0, 4))]
        events = feed_in_pieces(FrameParser(), stream, cuts)
        if not events or events[-1] != Frame(good):
            lost.append((probe, junk))
    assert lost == []

"""Incremental detokenisation and stop strings."""

from __future__ import annotations

from codetune_lsp.models.text import IncrementalText, StopWatcher, truncate_at_stop


def _bytes_decoder(table: dict[int, bytes]):
    return lambda ids: b"".join(table[i] for i in ids).decode("utf-8", errors="replace")


def test_a_character_split_over_tokens_is_released_whole():
    euro = "€".encode()
    decode = _bytes_decoder({1: b"a", 2: euro[:1], 3: euro[1:2], 4: euro[2:], 5: b"b"})
    text = IncrementalText(decode)
    deltas = [text.push(t) for t in (1, 2, 3, 4, 5)]
    assert deltas == ["a", "", "", "€", "b"]
    assert text.text == "a€b"


def test_stop_watcher_finds_a_stop_that_spans_deltas():
    watch = StopWatcher(["USER:"])
    assert watch.find("hello US", 2) == -1
    assert watch.find("hello USER: x", 5) == 6


def test_stop_watcher_holds_back_a_possible_stop_prefix():
    watch = StopWatcher(["USER:", "\n\n"])
    assert watch.safe_length("abc US") == 4
    assert watch.safe_length("abc\n") == 3
    assert watch.safe_length("abc") == 3
    assert StopWatcher([]).safe_length("abc US") == 6


def test_truncate_at_the_earliest_stop():
    assert truncate_at_stop("a\nUSER: b\n\n", ["\n\n", "USER:"]) == ("a\n", True)
    assert truncate_at_stop("abc", ["x"]) == ("abc", False)

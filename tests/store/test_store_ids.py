"""ULID execution ids: format, order, embedded time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from codetune_lsp.store.ids import UlidGenerator, encode, is_ulid, new_ulid, ulid_time


def test_format_and_time() -> None:
    ulid = UlidGenerator().new(now_ms=1_777_000_000_123)
    assert is_ulid(ulid) and len(ulid) == 26
    assert ulid_time(ulid) == datetime.fromtimestamp(1_777_000_000.123, tz=UTC)
    assert abs(ulid_time(new_ulid()) - datetime.now(UTC)) < timedelta(seconds=5)
    assert encode(0, 0) == "0" * 26
    assert encode((1 << 48) - 1, (1 << 80) - 1) == "7" + "Z" * 25
    with pytest.raises(ValueError):
        encode(1 << 48, 0)
    assert not is_ulid("not-a-ulid") and not is_ulid("8" + "0" * 25)


def test_strictly_increasing_within_one_millisecond() -> None:
    generator = UlidGenerator()
    ids = [generator.new(now_ms=1_800_000_000_000) for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert {ulid_time(i) for i in ids} == {datetime.fromtimestamp(1_800_000_000, tz=UTC)}


def test_a_clock_going_backwards_keeps_order() -> None:
    generator = UlidGenerator()
    first = generator.new(now_ms=1_900_000_000_500)
    second = generator.new(now_ms=1_900_000_000_100)
    assert second > first


def test_later_milliseconds_sort_later() -> None:
    generator = UlidGenerator()
    assert generator.new(now_ms=2_000_000_000_000) < generator.new(now_ms=2_000_000_000_001)
    assert new_ulid() < new_ulid()

"""The response cache: keys, TTL, LRU cap, what is never cached, invalidation, hit records."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from codetune_lsp.store import CachedResponse, CacheRequest, Store, request_key
from codetune_lsp.store import store as store_module
from codetune_lsp.store.tables import CacheEntry, Execution
from tests.store.conftest import make_record


def req(prompt: str = "def f():", **overrides: Any) -> CacheRequest:
    values: dict[str, Any] = {
        "backend": "local",
        "model_id": "Salesforce/codet5p-220m-py",
        "model_revision": "abc123",
        "prompt": prompt,
        "params": {"temperature": 0, "max_new_tokens": 64, "top_p": 1.0},
        "output_schema": None,
        "template_version_id": 1,
    }
    values.update(overrides)
    return CacheRequest(**values)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Make the store's clock advance 1 s per reading; ``advance(s)`` jumps ahead."""
    start = datetime(2026, 5, 1, tzinfo=UTC)
    ticks = itertools.count()
    offset = [0.0]

    def now() -> datetime:
        return start + timedelta(seconds=next(ticks) + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    monkeypatch.setattr(store_module, "utcnow", now)
    return advance


def entries(store: Store) -> int:
    return store.read(lambda s: s.scalar(select(func.count()).select_from(CacheEntry)))


def test_key_is_canonical_and_covers_every_field() -> None:
    base = req()
    same = CacheRequest(
        template_version_id=1,
        params={"top_p": 1, "max_new_tokens": 64, "temperature": 0.0},  # other order, 1 vs 1.0
        prompt="def f():",
        model_revision="abc123",
        model_id="Salesforce/codet5p-220m-py",
        backend="local",
    )
    assert base.key == same.key
    assert len(base.key) == 64 and int(base.key, 16) >= 0
    assert base.key == request_key(base.canonical())
    changed = [
        req(backend="openai"),
        req(model_id="other"),
        req(model_revision="def456"),
        req(prompt="def g():"),
        req(params={"temperature": 0, "max_new_tokens": 65, "top_p": 1.0}),
        req(params={"temperature": 0, "max_new_tokens": 64, "top_p": 1.0, "stop": ["\n"]}),
        req(output_schema={"type": "object"}),
        req(template_version_id=2),
    ]
    keys = {c.key for c in changed}
    assert len(keys) == len(changed) and base.key not in keys
    assert request_key({"b": 1, "a": [1, 2.0]}) == request_key({"a": [1, 2], "b": 1.0})
    with pytest.raises(ValueError):
        request_key({"t": float("nan")})
    with pytest.raises(TypeError):
        request_key({"t": {1, 2}})


async def test_put_then_get_and_counters(store: Store) -> None:
    request = req()
    assert await store.cache_get(request) is None
    assert await store.cache_put(request, CachedResponse("return 1", "stop", 10, 3)) is True
    assert await store.cache_get(request) == CachedResponse("return 1", "stop", 10, 3)
    assert await store.cache_get(req(prompt="other")) is None
    counters = store.cache_counters.as_dict()
    assert (counters["hits"], counters["misses"], counters["stored"]) == (1, 2, 1)
    await store.flush()
    hits = store.read(lambda s: s.scalar(select(CacheEntry.hits)))
    assert hits == 1


async def test_ttl_expiry(store: Store, clock: Callable[[float], None]) -> None:
    store.cache_policy = store.cache_policy.__class__(ttl=timedelta(hours=1))
    request = req()
    await store.cache_put(request, CachedResponse("x"))
    assert await store.cache_get(request) is not None
    clock(3600)
    assert await store.cache_get(request) is None
    assert (await store.prune_cache())["expired"] == 1
    assert entries(store) == 0


async def test_lru_eviction_at_the_cap(store: Store, clock: Callable[[float], None]) -> None:
    store.cache_policy = store.cache_policy.__class__(max_entries=3)
    a, b, c, d = (req(prompt=p) for p in "abcd")
    for r in (a, b, c):
        await store.cache_put(r, CachedResponse(r.prompt))
    assert await store.cache_get(a) is not None  # a is now the most recently used
    await store.flush()  # the LRU touch is a queued write
    await store.cache_put(d, CachedResponse("d"))
    assert entries(store) == 3
    assert await store.cache_get(b) is None  # b was least recently used
    for r in (a, c, d):
        assert await store.cache_get(r) is not None


async def test_the_cap_holds_with_the_running_count(
    store: Store, store_factory: Any, clock: Callable[[float], None]
) -> None:
    """The eviction runs only over the cap, from a running count that replacing an entry,
    clearing, and another process's writes (seen at the recount) keep right."""
    store.cache_policy = store.cache_policy.__class__(max_entries=3)
    for p in "abc":
        await store.cache_put(req(prompt=p), CachedResponse(p))
    await store.cache_put(req(prompt="a"), CachedResponse("a2"))  # replaced: still 3
    assert entries(store) == 3
    await store.cache_put(req(prompt="d"), CachedResponse("d"))
    assert entries(store) == 3
    assert await store.cache_get(req(prompt="b")) is None  # least recently used went
    assert await store.clear_cache() == 3
    for p in "efgh":
        await store.cache_put(req(prompt=p), CachedResponse(p))
    assert entries(store) == 3
    other = store_factory()  # another process filling the same table past the cap
    for p in "ijklm":
        await other.cache_put(req(prompt=p), CachedResponse(p))
    store._cache_size.recount_every = 1
    await store.cache_put(req(prompt="n"), CachedResponse("n"))
    assert entries(store) == 3


async def test_errors_are_never_cached(store: Store) -> None:
    request = req()
    assert await store.cache_put(request, CachedResponse("partial"), success=False) is False
    assert await store.cache_get(request) is None
    assert entries(store) == 0
    assert store.cache_counters.refused == 1


async def test_sampled_requests_are_not_cached_by_default(store_factory: Any) -> None:
    store = store_factory()
    sampled = req(params={"temperature": 0.7})
    do_sample = req(params={"do_sample": True})
    for request in (sampled, do_sample):
        assert await store.cache_put(request, CachedResponse("x")) is False
        assert await store.cache_get(request) is None
    assert entries(store) == 0
    assert store.cache_counters.bypassed == 2
    enabled = store_factory(cache_sampled=True)
    assert await enabled.cache_put(sampled, CachedResponse("x")) is True
    assert await enabled.cache_get(sampled) == CachedResponse("x")


async def test_invalidation_by_template_version(store: Store) -> None:
    v1 = [req(prompt=f"p{i}", template_version_id=1) for i in range(3)]
    v2 = req(prompt="p0", template_version_id=2)
    for r in [*v1, v2]:
        await store.cache_put(r, CachedResponse(r.prompt))
    assert await store.invalidate_cache(1) == 3
    for r in v1:
        assert await store.cache_get(r) is None
    assert await store.cache_get(v2) == CachedResponse("p0")


async def test_a_hit_is_recorded_with_the_cache_flag_and_zero_cost(store: Store) -> None:
    request = req()
    await store.cache_put(request, CachedResponse("cached answer", "stop", 11, 2))
    cached = await store.cache_get(request)
    assert cached is not None
    record = make_record(estimated_cost=0.5, latency_ms=0.4, output=None, output_tokens=None)
    execution_id = await store.record_cache_hit(record, cached)
    row = store.read(lambda s: s.get(Execution, execution_id))
    assert row is not None
    assert row.cache_hit is True
    assert row.estimated_cost == 0.0
    assert row.output == "cached answer"
    assert (row.input_tokens, row.output_tokens, row.latency_ms) == (11, 2, 0.4)
    # Any execution flagged as a hit costs nothing, whoever builds the record.
    other = await store.record_execution(make_record(cache_hit=True, estimated_cost=9.0))
    assert store.read(lambda s: s.get(Execution, other)).estimated_cost == 0.0


async def test_secrets_keep_entries_out_of_the_cache(store: Store) -> None:
    secret_prompt = req(prompt="AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'")
    assert await store.cache_put(secret_prompt, CachedResponse("ok")) is False
    secret_output = req(prompt="harmless")
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    assert await store.cache_put(secret_output, CachedResponse(f"token = '{token}'")) is False
    assert entries(store) == 0


async def test_no_cache_without_record_text(store_factory: Any) -> None:
    store = store_factory(record_text=False)
    assert await store.cache_put(req(), CachedResponse("x")) is False
    assert await store.cache_get(req()) is None
    assert entries(store) == 0


async def test_replacing_an_entry_and_clearing(store: Store) -> None:
    request = req()
    await store.cache_put(request, CachedResponse("old"))
    await store.cache_put(request, CachedResponse("new"))
    assert await store.cache_get(request) == CachedResponse("new")
    assert entries(store) == 1
    assert await store.clear_cache() == 1
    assert entries(store) == 0


def test_policy_from_settings() -> None:
    from codetune_lsp.settings import StoreSettings
    from codetune_lsp.store import CachePolicy

    policy = CachePolicy.from_settings(
        StoreSettings(cache_ttl_s=0, cache_max_entries=5, cache_sampled=True)
    )
    assert policy.ttl is None and policy.max_entries == 5 and policy.cache_sampled
    assert CachePolicy.from_settings(StoreSettings(cache_enabled=False)).bypass_reason(req())

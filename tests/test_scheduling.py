"""Per-document scheduling: latest request wins, one job in flight, coalesced diagnostics."""

from __future__ import annotations

import asyncio

import pytest

from codetune_lsp.scheduling import Coalescing, LatestWins, Superseded


async def test_a_newer_request_supersedes_the_older_and_stops_its_job() -> None:
    gate = LatestWins()
    stopped = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return "slow"

    async def fast() -> str:
        return "fast"

    first = asyncio.create_task(gate.run("doc", slow))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(gate.run("doc", fast))
    assert await first is None  # answered (empty), not an error
    assert await second == "fast"
    assert stopped.is_set()


async def test_debounce_means_a_burst_runs_the_job_once() -> None:
    gate = LatestWins()
    calls = []

    async def job(i: int) -> int:
        calls.append(i)
        return i

    results = []
    for i in range(10):
        results.append(asyncio.create_task(gate.run("doc", lambda i=i: job(i), debounce_s=0.05)))
        await asyncio.sleep(0.005)
    done = await asyncio.gather(*results)
    assert calls == [9]
    assert done == [None] * 9 + [9]


async def test_never_more_than_one_job_in_flight_per_document() -> None:
    gate = LatestWins()
    running = 0
    peak = 0

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(0.02)
        finally:
            await asyncio.sleep(0.01)  # slow to stop, like a generation ending
            running -= 1

    tasks = []
    for _ in range(20):
        tasks.append(asyncio.create_task(gate.run("doc", job)))
        await asyncio.sleep(0.003)
    await asyncio.gather(*tasks)
    assert peak == 1 and gate.peak_in_flight("doc") == 1


async def test_documents_do_not_block_each_other() -> None:
    gate = LatestWins()

    async def job(value: str) -> str:
        await asyncio.sleep(0.05)
        return value

    a = asyncio.create_task(gate.run("a", lambda: job("a")))
    b = asyncio.create_task(gate.run("b", lambda: job("b")))
    assert await asyncio.gather(a, b) == ["a", "b"]


async def test_client_cancellation_still_propagates() -> None:
    gate = LatestWins()
    task = asyncio.create_task(gate.run("doc", lambda: asyncio.sleep(10)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_coalescing_runs_the_latest_waiting_job_only() -> None:
    runner: Coalescing[int] = Coalescing()
    release = asyncio.Event()
    ran = []

    async def job(version: int) -> int:
        ran.append(version)
        if version == 1:
            await release.wait()
        return version

    first = runner.submit("doc", lambda: job(1))
    queued = [runner.submit("doc", lambda v=v: job(v)) for v in (2, 3, 4)]
    release.set()
    assert await first == 1
    assert await queued[-1] == 4
    for replaced in queued[:-1]:
        with pytest.raises(Superseded):
            await replaced
    assert ran == [1, 4]
    assert not runner.busy("doc")

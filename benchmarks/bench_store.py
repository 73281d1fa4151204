"""Benchmark the store's write path.

    python benchmarks/bench_store.py [--rows 20000] [--json results.json]

1. Throughput: executions per second committed to a SQLite file through the batching writer,
   against the same writer limited to one row per transaction (unbatched), in one run; plus four
   processes writing at once.
2. Latency added to a request: an asyncio handler that records its execution (enqueue only, as
   the server does) against the same handler with recording off, in one run.

Prints a table and writes the numbers as JSON (stdout, or the file given with --json).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codetune_lsp.paths import Paths
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import ExecutionRecord, open_store

PROMPT = ("def handler(request):\n    # a realistic prompt body\n    return request.value\n" * 30)[
    :2000
]


def record(i: int) -> ExecutionRecord:
    return ExecutionRecord(
        feature="completion",
        backend="local",
        model_profile="codet5p-220m-py",
        model_id="Salesforce/codet5p-220m-py",
        model_revision="main",
        success=True,
        document_uri="file:///project/app.py",
        language_id="python",
        document_version=i,
        template_name="completion.infill",
        requested_label="production",
        params={"temperature": 0, "max_new_tokens": 64},
        rendered_prompt=PROMPT + str(i % 100),
        output="    return request.value + 1",
        finish_reason="stop",
        latency_ms=12.5,
        ttft_ms=3.0,
        input_tokens=480,
        output_tokens=9,
        estimated_cost=0.0,
    )


def _paths(root: Path) -> Paths:
    return Paths(root / "config.toml", "bench", root / "data", "bench")


def throughput(
    root: Path, name: str, rows: int, max_batch: int, synchronous: str
) -> dict[str, Any]:
    db = root / f"{name}.db"
    store = open_store(
        StoreSettings(url=f"sqlite:///{db}", synchronous=synchronous),  # type: ignore[arg-type]
        _paths(root),
        max_batch=max_batch,
    )
    store.record_execution(record(0)).result()  # warm up: connection, statement cache
    started = time.perf_counter()
    pending = [store.record_execution(record(i)) for i in range(rows)]
    for item in pending:
        item.result()
    elapsed = time.perf_counter() - started
    batches = store.writer.batches
    store.close()
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed),
        "transactions": batches - 1,
        "rows_per_transaction": round(rows / max(batches - 1, 1), 1),
        "synchronous": synchronous,
    }


def _child(url: str, root: str, rows: int, start: float, out: Any) -> None:
    store = open_store(StoreSettings(url=url), _paths(Path(root)))
    time.sleep(max(0.0, start - time.time()))
    began = time.perf_counter()
    pending = [store.record_execution(record(i)) for i in range(rows)]
    for item in pending:
        item.result()
    out.put(time.perf_counter() - began)
    store.close()


def multi_process(root: Path, processes: int, rows: int) -> dict[str, Any]:
    url = f"sqlite:///{root / 'multi.db'}"
    open_store(StoreSettings(url=url), _paths(root)).close()  # migrate first
    queue: Any = multiprocessing.Queue()
    start = time.time() + 1.5
    children = [
        multiprocessing.Process(target=_child, args=(url, str(root), rows, start, queue))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    durations = [queue.get(timeout=300) for _ in children]
    for child in children:
        child.join()
    total = processes * rows
    with sqlite3.connect(root / "multi.db") as conn:
        stored = conn.execute("SELECT count(*) FROM executions").fetchone()[0]
    return {
        "processes": processes,
        "rows": total,
        "stored": stored,
        "seconds": round(max(durations), 3),
        "rows_per_s": round(total / max(durations)),
    }


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 2)

    return {
        "p50_us": pick(0.50),
        "p99_us": pick(0.99),
        "p999_us": pick(0.999),
        "max_us": round(ordered[-1] / 1000, 2),
        "mean_us": round(statistics.fmean(ordered) / 1000, 2),
    }


async def _handler_latency(root: Path, requests: int, pause_s: float = 0.0) -> dict[str, Any]:
    """``pause_s`` = 0: requests back to back (a burst far above any editor's rate, so the
    write queue backs up); > 0: a pause between requests (a steady, still high, rate)."""
    name = f"latency-{pause_s}.db"
    store = open_store(StoreSettings(url=f"sqlite:///{root / name}"), _paths(root))
    store.record_execution(record(0)).result()
    record_ns: list[int] = []
    with_ns: list[int] = []
    without_ns: list[int] = []
    # Like a server, keep a reference only while a write is in flight.
    in_flight: set[Any] = set()
    gc_pauses: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            on_gc.started = time.perf_counter()  # type: ignore[attr-defined]
        elif info["generation"] == 2:
            gc_pauses.append(time.perf_counter() - on_gc.started)  # type: ignore[attr-defined]

    gc.callbacks.append(on_gc)

    async def handler(i: int, recording: bool) -> dict[str, Any]:
        # What a handler does around the engine call: build the answer, record the execution.
        result = {"items": [{"insertText": "return request.value + 1"}], "id": i}
        if recording:
            t0 = time.perf_counter_ns()
            item = store.record_execution(record(i))
            record_ns.append(time.perf_counter_ns() - t0)
            in_flight.add(item.future)
            item.future.add_done_callback(in_flight.discard)
        return result

    for i in range(requests):  # interleaved, so both see the same machine state
        for recording in (True, False):
            t0 = time.perf_counter_ns()
            await handler(i, recording)
            (with_ns if recording else without_ns).append(time.perf_counter_ns() - t0)
        if pause_s:
            await asyncio.sleep(pause_s)
        elif i % 10 == 0:
            await asyncio.sleep(0)  # let the loop run other callbacks now and then
    started = time.perf_counter()
    await store.flush()
    drain_s = time.perf_counter() - started
    gc.callbacks.remove(on_gc)
    store.close()
    record_p = _percentiles(record_ns)
    with_p = _percentiles(with_ns)
    without_p = _percentiles(without_ns)
    return {
        "requests": requests,
        "pause_between_requests_ms": pause_s * 1000,
        "record_call": record_p,
        "handler_with_recording": with_p,
        "handler_without_recording": without_p,
        "added_p50_us": round(with_p["p50_us"] - without_p["p50_us"], 2),
        "added_p99_us": round(with_p["p99_us"] - without_p["p99_us"], 2),
        "drain_after_last_request_s": round(drain_s, 3),
        "gc_full_collections": len(gc_pauses),
        "gc_full_collection_max_ms": round(max(gc_pauses, default=0) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows for the batched run")
    parser.add_argument("--unbatched-rows", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--paced-requests", type=int, default=3_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--json", metavar="FILE", help="write JSON here instead of stdout")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="codetune-bench-") as tmp:
        root = Path(tmp)
        batched = throughput(root, "batched", args.rows, 512, "NORMAL")
        unbatched = throughput(root, "unbatched", args.unbatched_rows, 1, "NORMAL")
        batched_full = throughput(root, "batched_full", args.rows, 512, "FULL")
        unbatched_full = throughput(root, "unbatched_full", args.unbatched_rows // 4, 1, "FULL")
        multi = multi_process(root, args.processes, args.rows // args.processes)
        latency = asyncio.run(_handler_latency(root, args.requests))
        paced = asyncio.run(_handler_latency(root, args.paced_requests, 0.001))

    results = {
        "machine": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "throughput": {
            "batched": batched,
            "unbatched": unbatched,
            "speedup": round(batched["rows_per_s"] / unbatched["rows_per_s"], 1),
            "batched_full_sync": batched_full,
            "unbatched_full_sync": unbatched_full,
            "speedup_full_sync": round(
                batched_full["rows_per_s"] / unbatched_full["rows_per_s"], 1
            ),
            "multi_process": multi,
        },
        "latency": latency,
        "latency_paced": paced,
        "targets": {
            "batched_rows_per_s >= 5000": batched["rows_per_s"] >= 5000,
            "record p99 < 1 ms (burst)": latency["record_call"]["p99_us"] < 1000,
            "added handler p99 < 1 ms (burst)": latency["added_p99_us"] < 1000,
            "added handler p99 < 1 ms (paced)": paced["added_p99_us"] < 1000,
        },
    }

    rows = [
        ("write path (SQLite, synchronous)", "rows", "rows/s", "rows/txn"),
        (
            "batched writer, NORMAL",
            batched["rows"],
            batched["rows_per_s"],
            batched["rows_per_transaction"],
        ),
        ("one row per txn, NORMAL", unbatched["rows"], unbatched["rows_per_s"], 1),
        (
            "batched writer, FULL",
            batched_full["rows"],
            batched_full["rows_per_s"],
            batched_full["rows_per_transaction"],
        ),
        ("one row per txn, FULL", unbatched_full["rows"], unbatched_full["rows_per_s"], 1),
        (
            f"{multi['processes']} processes, batched, NORMAL",
            multi["rows"],
            multi["rows_per_s"],
            "-",
        ),
    ]
    print(f"{'':38}{'':>8}")
    for name, a, b, c in rows:
        print(f"{name:<38}{a!s:>8}{b!s:>10}{c!s:>10}")
    print(
        f"batched / unbatched: x{results['throughput']['speedup']} (NORMAL), "
        f"x{results['throughput']['speedup_full_sync']} (FULL)"
    )
    print()
    for title, run in (
        (f"burst: {latency['requests']} requests back to back", latency),
        (f"paced: {paced['requests']} requests, 1 ms apart", paced),
    ):
        print(f"{title + ' (µs)':<44}{'p50':>8}{'p99':>10}{'p99.9':>10}{'max':>10}")
        for name, key in (
            ("  record_execution() call", "record_call"),
            ("  handler with recording", "handler_with_recording"),
            ("  handler without recording", "handler_without_recording"),
        ):
            p = run[key]
            cells = f"{p['p50_us']:>8}{p['p99_us']:>10}{p['p999_us']:>10}{p['max_us']:>10}"
            print(f"{name:<44}{cells}")
        print(f"  added by recording: p50 {run['added_p50_us']} µs, p99 {run['added_p99_us']} µs")
        print(
            f"  full GC collections: {run['gc_full_collections']}, longest "
            f"{run['gc_full_collection_max_ms']} ms (a pause for every handler, not only this one)"
        )
    print()
    for target, ok in results["targets"].items():
        print(f"target {target}: {'met' if ok else 'NOT met'}")
    text = json.dumps(results, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
        print(f"\nJSON written to {args.json}")
    else:
        print()
        print(text)


if __name__ == "__main__":
    main()

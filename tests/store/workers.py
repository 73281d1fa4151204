"""Child processes for the multi-process store tests (run with ``python -m tests.store.workers``).

record URL N          record N executions, print "ok N" when all are committed
migrate URL START     sleep until the epoch time START, open (migrate) the store, print the revision
acked URL             record forever; print each id only after its commit was acknowledged
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from codetune_lsp.paths import Paths
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import ExecutionRecord, open_store
from codetune_lsp.store.migrate import current_revision


def _paths() -> Paths:
    root = Path.cwd()
    return Paths(root / "config.toml", "test", root / "data", "test")


def _record(i: int) -> ExecutionRecord:
    return ExecutionRecord(
        feature="completion",
        backend="local",
        model_profile="p",
        model_id="m",
        success=True,
        rendered_prompt=f"prompt {i % 50}",
        output=f"output {i}",
        latency_ms=1.0,
        params={"temperature": 0},
    )


def record(url: str, count: int) -> None:
    store = open_store(StoreSettings(url=url), _paths())
    pending = [store.record_execution(_record(i)) for i in range(count)]
    errors = 0
    for item in pending:
        try:
            item.result(timeout=120)
        except Exception as exc:
            errors += 1
            print(f"error {type(exc).__name__}: {exc}", file=sys.stderr)
    store.close()
    print(f"ok {count - errors}", flush=True)
    sys.exit(1 if errors else 0)


def migrate(url: str, start: float) -> None:
    time.sleep(max(0.0, start - time.time()))
    store = open_store(StoreSettings(url=url), _paths())
    print(current_revision(store.db_engine), flush=True)
    store.close()


def acked(url: str) -> None:
    store = open_store(StoreSettings(url=url), _paths())
    print("ready", flush=True)
    i = 0
    out = sys.stdout
    while True:
        window = [store.record_execution(_record(i + k)) for k in range(25)]
        i += 25
        for item in window:
            out.write(item.result(timeout=60) + "\n")
        out.flush()


if __name__ == "__main__":
    command, url, *rest = sys.argv[1:]
    if command == "record":
        record(url, int(rest[0]))
    elif command == "migrate":
        migrate(url, float(rest[0]))
    elif command == "acked":
        acked(url)
    else:
        raise SystemExit(f"unknown command {command}")

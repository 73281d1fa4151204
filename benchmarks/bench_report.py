"""Benchmark ``codetune-lsp report`` on a large store.

    python benchmarks/bench_report.py [--executions 100000] [--runs 3] [--store PATH] [--json F]

Fills a SQLite store with generated history (``tests/dashboard/synthetic.py``: eight days of
every feature, feedback, an A/B experiment and evaluation runs) through the store's own write
path, then times building the report (every query plus rendering) against the baseline of one
``stats --by feature`` computation on the same store, alternating the two. Targets: the report
renders in under 10 s and the file stays under 5 MB. ``--store`` keeps (and reuses) the store.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_common import machine, print_table, summary_ms, verdict, write_json

from codetune_lsp.dashboard import build_report
from codetune_lsp.paths import Paths
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import open_store
from codetune_lsp.store.history import HistoryFilter, compute_stats
from codetune_lsp.store.tables import utcnow
from tests.dashboard.synthetic import add_eval_runs, fill_history

LIMIT_S = 10.0
LIMIT_BYTES = 5 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store", type=Path, help="SQLite file to keep (reused when present)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="codetune-bench-report-"))
    database = args.store or work / "store.db"
    fresh = not database.exists()
    paths = Paths(work / "config.toml", "bench", work / "data", "bench")
    store = open_store(StoreSettings(url=f"sqlite:///{database}"), paths)
    try:
        now = utcnow()
        fill_s = 0.0
        if fresh:
            started = time.perf_counter()
            filled = fill_history(store, executions=args.executions, days=args.days, now=now)
            add_eval_runs(store, filled, now)
            fill_s = time.perf_counter() - started
        report_s: list[float] = []
        stats_s: list[float] = []
        html = ""
        for _ in range(args.runs):
            started = time.perf_counter()
            rows = store.read(lambda s: compute_stats(s, "feature", HistoryFilter()))
            stats_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            html = build_report(store, HistoryFilter(), now)
            report_s.append(time.perf_counter() - started)
        executions = rows[-1].count
    finally:
        store.close()
    size = len(html.encode("utf-8"))
    median = statistics.median(report_s)
    results = {
        "machine": machine(),
        "executions": executions,
        "fill_s": round(fill_s, 1),
        "report_s": [round(s, 3) for s in report_s],
        "stats_s": [round(s, 3) for s in stats_s],
        "report_median_s": round(median, 3),
        "ratio_to_stats": round(median / statistics.median(stats_s), 2),
        "bytes": size,
        "ok": median < LIMIT_S and size < LIMIT_BYTES,
    }
    print_table(
        f"report of {executions:,} executions ({args.runs} runs)",
        {"report": summary_ms(report_s), "stats --by feature": summary_ms(stats_s)},
    )
    print(f"file: {size / 1024:,.0f} KiB; report / stats: {results['ratio_to_stats']}x")
    print(f"target < {LIMIT_S:.0f} s and < 5 MB: {verdict(bool(results['ok']))}")
    write_json(args.json, results)


if __name__ == "__main__":
    main()

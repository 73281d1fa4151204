"""Cross-file context cost: index build time and memory, and the time to gather one
completion's snippets, on a 2,000-file workspace of real code (the Python standard library
plus NetworkX, capped at 2,000 files) against a 20-file workspace in the same run.

Gathering is timed both in wall time and in the thread's CPU time: on a shared machine the
CPU time is the figure that does not depend on the other jobs. The ratio large/small shows
whether a search grows with the workspace (the target: it does not, and p95 ≤ 5 ms).

    python benchmarks/bench_cross_file.py [--cursors 300] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import sysconfig
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codetune_lsp.context.files import FileLimits, walk_sources  # noqa: E402
from codetune_lsp.context.service import ContextSwitches, CrossFileContext  # noqa: E402
from codetune_lsp.evaluation.suites.crossfile import package_root  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CURRENT = STDLIB / "email" / "message.py"


def pick(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build(roots: list[Path], files: int) -> tuple[CrossFileContext, float, float]:
    """A built index, its build seconds and the process's RSS growth in MiB."""
    process = psutil.Process()
    before = process.memory_info().rss
    context = CrossFileContext(FileLimits(max_files=files))
    started = time.perf_counter()
    context.set_roots(roots)
    context.ready.wait()
    seconds = time.perf_counter() - started
    return context, seconds, (process.memory_info().rss - before) / 2**20


def gather_times(context: CrossFileContext, cursors: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per gather at random cursors of one real file."""
    text = CURRENT.read_text()
    rng = random.Random(7)
    wall, cpu = [], []
    for _ in range(cursors):
        offset = rng.randrange(len(text))
        context._stable.clear()  # every cursor on a new line: no reuse
        started_wall, started_cpu = time.perf_counter(), time.thread_time()
        context.gather("file:///bench", CURRENT, "python", text, offset, ContextSwitches())
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started_wall) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cursors", type=int, default=300)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    networkx = package_root("networkx")
    roots = [STDLIB] + ([networkx] if networkx else [])
    small_root = STDLIB / "email"
    results = {}
    for name, chosen, cap in (("small", [small_root], 20), ("large", roots, args.files)):
        context, seconds, rss = build(chosen, cap)
        files = sum(1 for _ in walk_sources(chosen, FileLimits(max_files=cap)))
        wall, cpu = gather_times(context, args.cursors)
        results[name] = {
            "files": context.index.file_count,
            "walked": files,
            "windows": context.index.window_count,
            "build_s": round(seconds, 2),
            "rss_mib": round(rss, 1),
            "gather_wall_ms": {"p50": pick(wall, 0.5), "p95": pick(wall, 0.95)},
            "gather_cpu_ms": {"p50": pick(cpu, 0.5), "p95": pick(cpu, 0.95)},
        }
        context.close()
    small, large = results["small"], results["large"]
    print(f"{'workspace':<10}{'files':>7}{'windows':>9}{'build s':>9}{'RSS MiB':>9}"
          f"{'wall p50':>10}{'wall p95':>10}{'CPU p50':>9}{'CPU p95':>9}")  # fmt: skip
    for name, row in results.items():
        print(
            f"{name:<10}{row['files']:>7}{row['windows']:>9}{row['build_s']:>9}{row['rss_mib']:>9}"
            f"{row['gather_wall_ms']['p50']:>10.2f}{row['gather_wall_ms']['p95']:>10.2f}"
            f"{row['gather_cpu_ms']['p50']:>9.2f}{row['gather_cpu_ms']['p95']:>9.2f}"
        )
    ratio = large["gather_cpu_ms"]["p95"] / max(small["gather_cpu_ms"]["p95"], 1e-6)
    print(f"CPU p95 large/small: {ratio:.2f}x (target: p95 <= 5 ms on {large['files']} files)")
    results["cpu_p95_ratio_large_small"] = round(ratio, 2)
    results["load_average"] = list(psutil.getloadavg())
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

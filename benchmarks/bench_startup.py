"""Spawn → initialize latency and idle memory, against a bare pygls server in the same run.

Run: python benchmarks/bench_startup.py [--runs 15]
Target: codetune-lsp's median spawn→initialize ≤ 1.3x the bare pygls server's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import ROOT, compile_bytecode
from _lsp_client import INITIALIZE, BenchClient

HERE = Path(__file__).resolve().parent
SERVERS = {
    "bare pygls": [sys.executable, str(HERE / "bare_pygls_server.py")],
    "codetune-lsp": [sys.executable, "-m", "codetune_lsp"],
}


def one_start(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    client = BenchClient(cmd, env)
    client.request(1, "initialize", INITIALIZE)
    elapsed = time.perf_counter() - started
    client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    time.sleep(0.2)
    rss = psutil.Process(client.proc.pid).memory_info().rss
    client.stop()
    return elapsed, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also run codetune-lsp imported from DIR (a checkout holding codetune_lsp/)",
    )
    args = parser.parse_args()
    compile_bytecode(ROOT, *([args.baseline] if args.baseline is not None else []))
    home = tempfile.mkdtemp(prefix="codetune-bench-")
    env = {"CODETUNE_HOME": home, "CODETUNE_CONFIG": f"{home}/config.toml"}
    envs = {name: env for name in SERVERS}
    if args.baseline is not None:  # -P: PYTHONPATH only, not the current directory first
        SERVERS["codetune base"] = [sys.executable, "-P", "-m", "codetune_lsp"]
        envs["codetune base"] = {**env, "PYTHONPATH": str(args.baseline.resolve())}
    times: dict[str, list[float]] = {name: [] for name in SERVERS}
    rss: dict[str, list[int]] = {name: [] for name in SERVERS}
    for name, cmd in SERVERS.items():  # warm the OS file cache once each
        one_start(cmd, envs[name])
    for _ in range(args.runs):  # interleave so machine noise hits both alike
        for name, cmd in SERVERS.items():
            elapsed, memory = one_start(cmd, envs[name])
            times[name].append(elapsed)
            rss[name].append(memory)
    results = {
        name: {
            "median_ms": statistics.median(times[name]) * 1000,
            "p90_ms": sorted(times[name])[int(0.9 * (len(times[name]) - 1))] * 1000,
            "idle_rss_mib": statistics.median(rss[name]) / 2**20,
        }
        for name in SERVERS
    }
    ratio = results["codetune-lsp"]["median_ms"] / results["bare pygls"]["median_ms"]
    print(f"{'server':<14} {'median ms':>10} {'p90 ms':>8} {'idle RSS MiB':>13}")
    for name, row in results.items():
        print(
            f"{name:<14} {row['median_ms']:>10.1f} {row['p90_ms']:>8.1f} "
            f"{row['idle_rss_mib']:>13.1f}"
        )
    print(f"spawn→initialize ratio codetune-lsp / bare pygls: {ratio:.2f}x (target ≤ 1.30x)")
    if "codetune base" in results:
        base = results["codetune base"]["median_ms"] / results["bare pygls"]["median_ms"]
        print(f"spawn→initialize ratio codetune base / bare pygls: {base:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "results": results, "ratio": ratio}))


if __name__ == "__main__":
    main()

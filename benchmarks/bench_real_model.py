"""The embedded model (Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M) on this CPU, measured.

Parts, each a ratio against a baseline from the same run:
  overhead  LocalBackend (llama.cpp runtime) vs a raw llama-cpp-python generate loop on the
            same prompt: tokens/s and time to first token, alternating.
  threads   llama.cpp with 1 thread vs one per core, raw loop, alternating (the default is
            picked from this: see models/_llama.py).
  prefix    a typing burst: time to first token of a request whose prompt extends the last
            one vs a cold prompt of the same length (llama.cpp reuses the shared prefix).
  runtimes  llama.cpp vs transformers (fp32, from the converted safetensors copy): tokens/s,
            load time (cold conversion once, then warm), RSS of each in its own process.
  preempt   a completion submitted while a long diagnostics-like generation (JSON grammar,
            priority 2) runs: its latency with pausing (as shipped) vs without (it waits for
            the generation to end), alternating; and the completion alone for reference.
  check     `codetune-lsp check examples` wall time with the response cache off.
  batch-json  8 JSON-schema requests on the transformers runtime (fp32, converted copy),
            sent together (they share ``generate`` calls, one grammar matcher per row) vs
            one after another, alternating: generated tokens per second of wall time.

    .venv/bin/python benchmarks/bench_real_model.py [--parts overhead,threads,prefix,preempt,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codetune_lsp.models.install import QWEN_05B, install  # noqa: E402

PROMPT = (
    "<|fim_prefix|>def parse_version(text: str) -> tuple[int, ...]:\n"
    '    """Split a dotted version string such as 3.11.7 into integers."""\n    '
    "<|fim_suffix|>\n<|fim_middle|>"
)


def gguf() -> Path:
    data = Path(os.environ.get("CODETUNE_HOME") or tempfile.mkdtemp(prefix="bench-real-"))
    return install(QWEN_05B, data)


def raw_run(llm, tokens: list[int], n: int) -> tuple[float, float, int]:
    """(time to first token, total seconds, tokens) of a greedy raw generate loop."""
    started = time.perf_counter()
    first = None
    count = 0
    for _ in llm.generate(tokens, temp=0.0, top_k=0, top_p=1.0, min_p=0.0, reset=True):
        first = first or time.perf_counter() - started
        count += 1
        if count >= n:
            break
    return first or 0.0, time.perf_counter() - started, count


def part_overhead(path: Path, pairs: int, n: int) -> dict:
    from llama_cpp import Llama

    from codetune_lsp.models._llama import default_threads
    from codetune_lsp.models.base import GenerationRequest
    from codetune_lsp.models.local import LocalBackend
    from codetune_lsp.settings import ModelProfile

    threads = default_threads()
    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, verbose=False)
    tokens = list(llm.tokenize(PROMPT.encode(), add_bos=False, special=True))

    async def ours() -> list[tuple[float, float, int]]:
        profile = ModelProfile(family="qwen2.5-coder", id=str(path), threads=threads)
        backend = LocalBackend("bench", profile)
        out = []
        try:
            await backend.ready()
            for _ in range(pairs):
                llm.reset()  # the raw model must not keep our prompt cached, nor we its
                raw = raw_run(llm, tokens, n)
                request = GenerationRequest(prompt=PROMPT, max_new_tokens=n)
                backend.loaded.llm.reset()
                started = time.perf_counter()
                result = await backend.generate(request)
                mine = (result.time_to_first_token_s or 0.0, time.perf_counter() - started,
                        result.tokens_out)  # fmt: skip
                out.append((raw, mine))
        finally:
            await backend.close()
        return out

    rows = asyncio.run(ours())
    raw_tps = [r[2] / r[1] for r, _ in rows]
    our_tps = [m[2] / m[1] for _, m in rows]
    return {
        "threads": threads,
        "raw tokens/s (median)": statistics.median(raw_tps),
        "codetune tokens/s (median)": statistics.median(our_tps),
        "speed ratio codetune/raw": statistics.median(
            o / r for o, r in zip(our_tps, raw_tps, strict=True)
        ),
        "raw first token ms": 1000 * statistics.median(r[0] for r, _ in rows),
        "codetune first token ms": 1000 * statistics.median(m[0] for _, m in rows),
    }


def part_threads(path: Path, pairs: int, n: int) -> dict:
    from llama_cpp import Llama

    cores = os.cpu_count() or 1
    results: dict[int, list[float]] = {1: [], cores: []}
    models = {t: Llama(model_path=str(path), n_ctx=1024, n_threads=t, n_threads_batch=t,
                       verbose=False) for t in results}  # fmt: skip
    tokens = list(models[1].tokenize(PROMPT.encode(), add_bos=False, special=True))
    for _ in range(pairs):
        for t, llm in models.items():
            llm.reset()
            _, seconds, count = raw_run(llm, tokens, n)
            results[t].append(count / seconds)
    load = os.getloadavg()[0]
    return {
        "load average during the run": load,
        **{f"{t} thread(s) tokens/s (median)": statistics.median(v) for t, v in results.items()},
        f"ratio {cores} threads / 1": statistics.median(results[cores])
        / statistics.median(results[1]),
    }


def part_prefix(path: Path, bursts: int) -> dict:
    from llama_cpp import Llama

    from codetune_lsp.models._llama import default_threads

    llm = Llama(model_path=str(path), n_ctx=4096, n_threads=default_threads(), verbose=False)
    body = Path(ROOT / "codetune_lsp" / "models" / "install.py").read_text()[:3000]
    cold, warm = [], []
    for i in range(bursts):
        base = f"# burst {i}\n" + body
        llm.reset()
        first, _, _ = raw_run(llm, list(llm.tokenize(base.encode(), add_bos=False)), 1)
        cold.append(first)
        typed = base + "\nx = 1"  # the user typed a few characters: the prompt grew
        first2, _, _ = raw_run(llm, list(llm.tokenize(typed.encode(), add_bos=False)), 1)
        warm.append(first2)
    return {
        "prompt tokens": len(llm.tokenize(body.encode(), add_bos=False)),
        "first request first token ms": 1000 * statistics.median(cold),
        "next keystroke first token ms": 1000 * statistics.median(warm),
        "ratio next/first (goal <= 0.3)": statistics.median(
            w / c for w, c in zip(warm, cold, strict=True)
        ),
    }


def part_preempt(path: Path, pairs: int) -> dict:
    from codetune_lsp.models import _llama
    from codetune_lsp.models.base import ChatMessage, GenerationRequest, StreamDelta
    from codetune_lsp.models.local import LocalBackend
    from codetune_lsp.settings import ModelProfile

    long = GenerationRequest(
        messages=(ChatMessage("user", "List forty Python builtins as JSON: {\"names\": [...]}."),),
        max_new_tokens=160,
        json_schema={"type": "object", "properties": {"names": {"type": "array",
                     "items": {"type": "string"}}}, "required": ["names"]},
        priority=2,
    )  # fmt: skip
    short = GenerationRequest(prompt=PROMPT, max_new_tokens=24, priority=0)

    async def during(backend: LocalBackend) -> tuple[float, float]:
        """(completion latency, whole diagnostics generation) with the completion sent at
        the diagnostics' first token."""
        backend.loaded.llm.reset()
        started = time.perf_counter()
        task = None
        async for event in backend.stream(long):
            if isinstance(event, StreamDelta) and task is None:
                sent = time.perf_counter()
                task = asyncio.ensure_future(backend.generate(short))
                task.add_done_callback(
                    lambda _, sent=sent: latency.append(time.perf_counter() - sent)
                )
        assert task is not None
        await task
        return latency.pop(), time.perf_counter() - started

    latency: list[float] = []

    async def run() -> dict[str, list[tuple[float, float]]]:
        backend = LocalBackend("bench", ModelProfile(family="qwen2.5-coder", id=str(path)))
        arms: dict[str, list[tuple[float, float]]] = {"pausing": [], "waiting": [], "alone": []}
        try:
            await backend.ready()
            await backend.generate(short)  # warm
            for index in range(pairs):
                order = ("pausing", "waiting") if index % 2 == 0 else ("waiting", "pausing")
                for arm in order:
                    _llama.PAUSES = arm == "pausing"
                    arms[arm].append(await during(backend))
                backend.loaded.llm.reset()
                started = time.perf_counter()
                await backend.generate(short)
                arms["alone"].append((time.perf_counter() - started, 0.0))
        finally:
            _llama.PAUSES = True
            await backend.close()
        return arms

    arms = asyncio.run(run())
    median = {arm: statistics.median(r[0] for r in rows) for arm, rows in arms.items()}
    return {
        "completion alone ms (median)": 1000 * median["alone"],
        "completion during diagnostics, pausing ms": 1000 * median["pausing"],
        "completion during diagnostics, waiting ms": 1000 * median["waiting"],
        "latency ratio pausing / waiting": median["pausing"] / median["waiting"],
        "latency ratio pausing / alone": median["pausing"] / median["alone"],
        "diagnostics wall, pausing / waiting": statistics.median(r[1] for r in arms["pausing"])
        / statistics.median(r[1] for r in arms["waiting"]),
    }


TOPICS = ("string methods", "list methods", "dict methods", "os functions",
          "math functions", "itertools functions", "builtins", "pathlib methods")  # fmt: skip


def part_batch_json(path: Path, pairs: int, n: int) -> dict:
    from codetune_lsp.models.base import ChatMessage, GenerationRequest
    from codetune_lsp.models.local import LocalBackend
    from codetune_lsp.settings import ModelProfile

    schema = {"type": "object", "properties": {"names": {"type": "array",
              "items": {"type": "string"}}}, "required": ["names"]}  # fmt: skip
    requests = [
        GenerationRequest(
            messages=(ChatMessage("user", f'Name ten Python {t} as JSON: {{"names": [...]}}.'),),
            max_new_tokens=n,
            json_schema=schema,
        )
        for t in TOPICS
    ]

    async def run() -> tuple[dict[str, list[tuple[float, int, int]]], list[int]]:
        profile = ModelProfile(family="qwen2.5-coder", id=str(path), runtime="transformers")
        backend = LocalBackend("bench", profile)
        arms: dict[str, list[tuple[float, int, int]]] = {"together": [], "one by one": []}
        try:
            await backend.ready()
            await backend.generate(requests[0])  # warm: the grammar compiled once
            for index in range(pairs):
                order = list(arms) if index % 2 == 0 else list(reversed(arms))
                for arm in order:
                    started = time.perf_counter()
                    if arm == "together":
                        results = await asyncio.gather(*(backend.generate(r) for r in requests))
                    else:
                        results = [await backend.generate(r) for r in requests]
                    wall = time.perf_counter() - started
                    valid = sum(r.json is not None for r in results)
                    arms[arm].append((wall, sum(r.tokens_out for r in results), valid))
            sizes = backend.batch_sizes
        finally:
            await backend.close()
        return arms, sizes

    arms, sizes = asyncio.run(run())
    speed = {arm: statistics.median(t / w for w, t, _ in rows) for arm, rows in arms.items()}
    return {
        "requests per arm": len(requests),
        "tokens/s together": speed["together"],
        "tokens/s one by one": speed["one by one"],
        "throughput ratio together / one by one": speed["together"] / speed["one by one"],
        "valid JSON together, one by one": [
            [v for _, _, v in arms["together"]],
            [v for _, _, v in arms["one by one"]],
        ],
        "largest batch": max(sizes),
    }


RUNTIME_CHILD = Path(__file__).with_name("_runtime_child.py")


def part_runtimes(path: Path, n: int) -> dict:
    out = {}
    prompt = PROMPT.replace("\n", "\\n") + "\n"
    for label, runtime in (("llama.cpp", "llama.cpp"), ("transformers cold", "transformers"),
                           ("transformers warm", "transformers")):  # fmt: skip
        done = subprocess.run(
            [sys.executable, str(RUNTIME_CHILD), str(path), runtime, str(n)],
            input=prompt * 3,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        out[label] = json.loads(done.stdout.strip().splitlines()[-1])
    out["speed ratio llama.cpp / transformers"] = (
        out["llama.cpp"]["tokens_per_s"] / out["transformers warm"]["tokens_per_s"]
    )
    return out


def part_check() -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "codetune_lsp", "--set", "store.cache_enabled=false", "check",
         "--format", "json", "examples"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    findings = json.loads(done.stdout)["findings"] if done.stdout.strip() else []
    return {
        "wall s": time.perf_counter() - started,
        "findings": len(findings),
        "exit": done.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", default="overhead,threads,prefix,preempt,runtimes,check")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    home = Path(tempfile.mkdtemp(prefix="bench-real-home-"))
    os.environ.setdefault("CODETUNE_HOME", str(home))
    os.environ.setdefault("CODETUNE_CONFIG", str(home / "config.toml"))
    path = gguf()
    results: dict[str, dict] = {}
    for part in args.parts.split(","):
        started = time.perf_counter()
        if part == "overhead":
            results[part] = part_overhead(path, args.pairs, args.tokens)
        elif part == "threads":
            results[part] = part_threads(path, args.pairs, args.tokens)
        elif part == "prefix":
            results[part] = part_prefix(path, args.pairs)
        elif part == "preempt":
            results[part] = part_preempt(path, args.pairs)
        elif part == "runtimes":
            results[part] = part_runtimes(path, args.tokens)
        elif part == "check":
            results[part] = part_check()
        elif part == "batch-json":
            results[part] = part_batch_json(path, args.pairs, args.tokens)
        print(f"== {part} ({time.perf_counter() - started:.0f} s)")
        for key, value in results[part].items():
            print(f"  {key:<40} {value if not isinstance(value, float) else round(value, 3)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

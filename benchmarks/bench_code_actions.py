"""Code action latency (issue 7), each part against a baseline from the same run.

Run: python benchmarks/bench_code_actions.py [--requests 1000] [--pairs 10] [--tokens 32]
         [--parts list,resolve] [--json results.json]

(a) list: textDocument/codeAction over stdio against the real server on a 2,000-line Python file
    (HumanEval prompts and solutions, MIT), at many cursor positions: empty ranges, multi-line
    selections and ranges carrying a diagnostic (the quick fix entry), after a warm-up.
    Interleaved with a bare pygls server answering a fixed list of six actions, for scale.
    Target: p99 < 5 ms.
(b) resolve: codeAction/resolve of "AI: Optimize" end to end in-process (the handler, the
    feature's run, the engine; response cache off) against LocalBackend.generate of exactly
    the chat GenerationRequest the engine built for it; alternated. Target: <= 1.10x (median).
    The built-in template asks for up to 1024 new tokens; a random model never stops early,
    so the same template is installed as a user prompt with max_new_tokens = --tokens, to
    keep each run short. Everything else about the path is unchanged.

Both parts use a ~20M-parameter random Llama built locally (cached in the temp dir).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import (
    NOTE,
    ROOT,
    Sandbox,
    Spy,
    StdioClient,
    bare_cmd,
    codetune_cmd,
    in_process_server,
    load_model,
    machine,
    model_path,
    overhead_with_instant_backend,
    paired_ratio,
    print_table,
    python_file,
    summary_ms,
    verdict,
    write_json,
)

CODE_ACTION = "textDocument/codeAction"
LINES = 2000
CAPABILITIES: dict[str, Any] = {
    "textDocument": {
        "codeAction": {
            "codeActionLiteralSupport": {
                "codeActionKind": {
                    "valueSet": ["quickfix", "refactor", "refactor.rewrite", "source"]
                }
            },
            "resolveSupport": {"properties": ["edit"]},
            "dataSupport": True,
        }
    },
    "workspace": {"workspaceEdit": {"documentChanges": True}},
}


def positions(text: str, n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Cursor ranges: 70% empty, 20% multi-line selections, 10% with a diagnostic."""
    lines = text.splitlines()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        line = rng.randrange(len(lines))
        char = rng.randint(0, len(lines[line]))
        roll = rng.random()
        diagnostics: list[dict[str, Any]] = []
        if roll < 0.7:
            end = {"line": line, "character": char}
        elif roll < 0.9:
            last = min(len(lines) - 1, line + rng.randint(1, 12))
            end = {"line": last, "character": len(lines[last])}
        else:
            end = {"line": line, "character": len(lines[line])}
            diagnostics.append(
                {
                    "range": {"start": {"line": line, "character": 0}, "end": end},
                    "message": "possible shell injection",
                    "source": "bench",
                    "severity": 2,
                }
            )
        out.append(
            {
                "range": {"start": {"line": line, "character": char}, "end": end},
                "context": {"diagnostics": diagnostics, "triggerKind": 2},
            }
        )
    return out


def part_list(sb: Sandbox, model: Path, n: int, warmup: int) -> dict[str, Any]:
    sb.write_config(model)
    text = python_file(LINES)
    uri = (sb.workspace / "big.py").as_uri()
    code = StdioClient(codetune_cmd(), sb.env)
    bare = StdioClient(bare_cmd(), sb.env)
    samples: dict[str, list[float]] = {"bare pygls (fixed list)": [], "codetune-lsp": []}
    counts: list[int] = []
    try:
        for client in (code, bare):
            client.initialize(sb.workspace, CAPABILITIES)
            client.open(uri, text)
        clients = {"bare pygls (fixed list)": bare, "codetune-lsp": code}
        for i, where in enumerate(positions(text, warmup + n)):
            params = {"textDocument": {"uri": uri}, **where}
            names = list(clients) if i % 2 == 0 else list(reversed(clients))
            for name in names:
                elapsed, response = clients[name].timed(CODE_ACTION, params)
                if "error" in response:
                    raise SystemExit(f"{name}: codeAction failed: {response['error']}")
                if i >= warmup:
                    samples[name].append(elapsed)
                    if name == "codetune-lsp":
                        counts.append(len(response.get("result") or []))
    finally:
        code.stop()
        bare.stop()
    stats = {name: summary_ms(s) for name, s in samples.items()}
    p99 = stats["codetune-lsp"]["p99_ms"]
    return {
        "file_lines": LINES,
        "requests": n,
        "warmup": warmup,
        "actions_per_answer": {"min": min(counts), "max": max(counts)},
        "stats": stats,
        "ratio_vs_bare_median": round(
            stats["codetune-lsp"]["median_ms"] / stats["bare pygls (fixed list)"]["median_ms"], 3
        ),
        "targets": {"codeAction list p99 < 5 ms": p99 < 5.0},
    }


async def _resolve(pairs: int) -> dict[str, Any]:
    from lsprotocol import types

    from codetune_lsp.handlers import code_actions as handlers

    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"])
            )
        )
    )
    server = await in_process_server(caps)
    try:
        backend = await load_model(server)
        text = python_file(LINES)
        uri = "file:///bench/big.py"
        server.documents.open(uri, "python", 1, text)
        lines = text.splitlines()
        # The cursor inside a mid-file function: the action works on that definition.
        target = next(i for i in range(LINES // 2, LINES) if lines[i].startswith("def ")) + 3
        cursor = types.Position(line=target, character=4)
        listed = await handlers.on_code_action(
            server,
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=cursor, end=cursor),
                context=types.CodeActionContext(diagnostics=[]),
            ),
        )
        optimize = next(a for a in listed if a.title == "AI: Optimize")

        def fresh() -> types.CodeAction:
            return types.CodeAction(
                title=optimize.title, kind=optimize.kind, data=dict(optimize.data)
            )

        with Spy(backend) as spy:
            await handlers.on_resolve(server, fresh())
        if len(spy.requests) != 1:
            raise SystemExit("resolve did not call the model (is the response cache off?)")
        raw_request = dataclasses.replace(spy.requests[0], cancel=None)
        await backend.generate(raw_request)
        batches_before = len(backend.batch_sizes)
        resolve_t: list[float] = []
        raw_t: list[float] = []
        for i in range(pairs):
            for which in ("resolve", "raw") if i % 2 == 0 else ("raw", "resolve"):
                started = time.perf_counter()
                if which == "resolve":
                    await handlers.on_resolve(server, fresh())
                    resolve_t.append(time.perf_counter() - started)
                else:
                    result = await backend.generate(raw_request)
                    raw_t.append(time.perf_counter() - started)
        generations = len(backend.batch_sizes) - batches_before
        overhead = await overhead_with_instant_backend(
            backend, result, lambda: handlers.on_resolve(server, fresh())
        )
        region_lines = optimize.data["range"]
    finally:
        await server.aclose()
    stats = {
        "codeAction/resolve 'AI: Optimize'": summary_ms(resolve_t),
        "LocalBackend.generate (same request)": summary_ms(raw_t),
    }
    ratio = (
        stats["codeAction/resolve 'AI: Optimize'"]["median_ms"]
        / stats["LocalBackend.generate (same request)"]["median_ms"]
    )
    return {
        "pairs": pairs,
        "cursor": region_lines,
        "chat_messages": len(raw_request.messages),
        "prompt_chars": sum(len(m.content) for m in raw_request.messages),
        "tokens_in": result.tokens_in,
        "tokens_out": result.tokens_out,
        "generations_run": generations,
        "stats": stats,
        "ratio": round(ratio, 4),
        "paired_ratio": round(paired_ratio(resolve_t, raw_t), 4),
        "overhead_instant_backend": summary_ms(overhead),
        "overhead_share_of_raw_median": round(
            statistics.median(overhead) / statistics.median(raw_t), 4
        ),
        "targets": {"resolve / raw backend <= 1.10x (median)": ratio <= 1.10},
    }


def part_resolve(sb: Sandbox, model: Path, pairs: int, tokens: int) -> dict[str, Any]:
    builtin = ROOT / "codetune_lsp" / "prompts" / "builtin" / "code_action.optimize.toml"
    text = re.sub(r"max_new_tokens = \d+", f"max_new_tokens = {tokens}", builtin.read_text())
    (sb.prompts / "code_action.optimize.toml").write_text(text, encoding="utf-8")
    sb.write_config(model, cache=False)
    try:
        return asyncio.run(_resolve(pairs))
    finally:
        (sb.prompts / "code_action.optimize.toml").unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="(a) codeAction requests")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=10, help="(b) resolve/raw pairs")
    parser.add_argument("--tokens", type=int, default=32, help="(b) max_new_tokens")
    parser.add_argument("--parts", default="list,resolve")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print("building/loading the ~20M-parameter test model ...", flush=True)
    model = model_path("20m")
    sb = Sandbox()
    results: dict[str, Any] = {"machine": machine(), "note": NOTE}
    try:
        if "list" in parts:
            a = results["list"] = part_list(sb, model, args.requests, args.warmup)
            print(
                f"\n(a) codeAction list over stdio, {a['file_lines']}-line file, "
                f"{a['requests']} requests each (after {a['warmup']} warm-up)"
            )
            print_table("server", a["stats"])
            print(
                f"  codetune-lsp / bare pygls: {a['ratio_vs_bare_median']:.2f}x median; "
                f"actions per answer {a['actions_per_answer']}"
            )
            print(
                f"  codetune-lsp p99 {a['stats']['codetune-lsp']['p99_ms']:.2f} ms (target < 5 ms)"
            )
        if "resolve" in parts:
            b = results["resolve"] = part_resolve(sb, model, args.pairs, args.tokens)
            print(
                f"\n(b) codeAction/resolve vs raw backend, in-process ({b['pairs']} pairs, "
                f"{b['tokens_in']} tokens in, {b['tokens_out']} out, cache off)"
            )
            print_table("path", b["stats"])
            print(
                f"  resolve / raw backend: {b['ratio']:.3f}x median (target <= 1.10x), "
                f"{b['paired_ratio']:.3f}x median of pair ratios; "
                f"path overhead with an instant backend: "
                f"{b['overhead_instant_backend']['median_ms']:.2f} ms median "
                f"({b['overhead_share_of_raw_median'] * 100:.2f}% of the raw median); "
                f"generations {b['generations_run']}"
            )
    finally:
        sb.cleanup()
    print()
    for part in ("list", "resolve"):
        for target, ok in results.get(part, {}).get("targets", {}).items():
            print(f"target ({part}) {target}: {verdict(ok)}")
    print(NOTE)
    write_json(args.json, results)


if __name__ == "__main__":
    main()

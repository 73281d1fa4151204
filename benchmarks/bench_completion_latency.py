"""Explicit completion latency with the embedded model (Qwen2.5-Coder-0.5B-Instruct, GGUF),
through the completion feature as an editor's explicit request reaches it.

Places: the cross-file suite's held-out lines (real code of installed packages; the cursor on
an emptied line inside a function), no cross-file context, response cache off, model loaded,
its evaluated prompt cleared before every request (a cold prompt: the worst case; while
typing, llama.cpp reuses the part of the prompt before the cursor).
Two arms on the same places, alternating which goes first:

  product          as shipped: the generation ends once the answer is complete
                   (``CompletionShape.complete``: the line ended, the block was left, the
                   answer joined the lines after the cursor, or a line loops)
  no early end     the same, with that judgement off, so the model runs to its stop strings
                   or its token limit and post-processing trims afterwards (the earlier
                   behaviour): the baseline

Reports median and p95 latency per arm, their ratio, and whether the served texts agree.

Part ``warm`` (what an explicit request costs while you work in a file): at each place a
first request on the emptied line with a cold prompt, then the first characters of the
held-out line are typed (up to 6, or to its first ``(`` or ``.``) and the explicit request
is made again, with the model's state from the first request kept, as it is while typing.
Two arms: the product (the second prompt extends the first: the typed text goes after the
FIM middle marker) and ``fresh prompt`` (the second prompt from the cursor as it is, so
llama.cpp re-evaluates the suffix). Reports median and p95 of each, their ratio, and the
exact match of each arm's warm answer against the rest of the held-out line. With
``--suite crossfile-api`` the places are after ``module.``, with the workspace index and the
name check on.

Part ``new-line``: the same two arms at the first multi-line holes of ``humaneval-infill``:
the hole's first line, the new line and the next line's indentation are typed.

    .venv/bin/python benchmarks/bench_completion_latency.py [--items 30]
        [--parts early-end,warm,new-line] [--suite crossfile-api] [--max-prompt-tokens N]
        [--show] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _bench_common import NOTE, pick  # noqa: E402

from codetune_lsp.models.install import QWEN_05B, install  # noqa: E402
from codetune_lsp.prompts import completion_text  # noqa: E402


def _sandbox(max_prompt_tokens: int | None) -> Path:
    home = Path(tempfile.mkdtemp(prefix="bench-latency-home-"))
    os.environ["CODETUNE_HOME"] = str(home)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HOME", str(home / "hf"))
    config = home / "config.toml"
    budget = "" if max_prompt_tokens is None else f"max_prompt_tokens = {max_prompt_tokens}\n"
    config.write_text(
        '[store]\ncache_enabled = false\n\n[features.diagnostics]\nrun_on = ["off"]\n\n'
        f"[features.completion]\n{budget}"
    )
    os.environ["CODETUNE_CONFIG"] = str(config)
    install(QWEN_05B, home)
    return home


SHOW = False


def _typed(target: str) -> str:
    """What a user has typed of ``target`` when asking: up to 6 characters, or through its
    first ``(`` or ``.`` when that comes sooner."""
    cut = min([6] + [target.find(c) + 1 for c in "(." if 0 <= target.find(c) < 6])
    return target[:cut]


async def _measure_warm(target, backend, chosen, document_for, with_context: bool) -> dict:
    """At each place: a cold request, the first characters of the held-out line typed,
    then the explicit request again, in two arms (alternating which goes first): the
    product, whose second prompt extends the first with the typed text after the FIM
    middle marker, and ``fresh prompt``, the second prompt built from the cursor as it
    is (the earlier behaviour). Exact match: the warm answer's first line against the
    rest of the held-out line."""
    from codetune_lsp.features.completion import CompletionFeature

    arms = {"product": True, "fresh prompt": False}
    cold: list[float] = []
    warm: dict[str, list[float]] = {arm: [] for arm in arms}
    exact: dict[str, int] = dict.fromkeys(arms, 0)
    answers: dict[str, list[str]] = {arm: [] for arm in arms}
    for index, item in enumerate(chosen.suite.items):
        root, path, text, offset = document_for(item)
        cross_file = await target._index_for(root) if with_context else None
        typed = _typed(item.data["target"])
        wanted = item.data["target"][len(typed) :].strip()
        after = text[:offset] + typed + text[offset:]
        order = list(arms) if index % 2 == 0 else list(reversed(arms))
        for arm in order:
            feature = CompletionFeature(target._host, cross_file, extend_prompts=arms[arm])
            times, answer = await _before_and_after_typing(
                feature, backend, f"{path.as_uri()}#{arm}", text, offset, after, len(typed)
            )
            cold.append(times[0])
            warm[arm].append(times[1])
            answers[arm].append(answer)
            exact[arm] += answer.split("\n", 1)[0].strip() == wanted
        if SHOW:
            print(f"{typed!r} -> {wanted!r}", {arm: answers[arm][-1][:60] for arm in arms})
    out: dict = {"cold first request": _stats(cold)}
    for arm in arms:
        out[f"warm, after typing: {arm}"] = _stats(warm[arm]) | {"exact match": exact[arm]}
    out["median ratio product / fresh prompt"] = statistics.median(
        warm["product"]
    ) / statistics.median(warm["fresh prompt"])
    out["warm answers equal"] = sum(
        a == b for a, b in zip(answers["product"], answers["fresh prompt"], strict=True)
    )
    out["warm places"] = len(answers["product"])
    out["warm answers empty"] = {arm: answers[arm].count("") for arm in arms}
    return out


async def _measure_warm_lines(target, backend, items: int) -> dict:
    """Typing onto a new line: at each multi-line hole of ``humaneval-infill`` (the first
    ``items`` with a second line of code), a cold request at the hole, then its first line,
    the new line and the next line's indentation typed, and the explicit request again; the
    same two arms. Exact match: the answer's first line against the hole's second."""
    from codetune_lsp.evaluation.suites.infill import infill_suite
    from codetune_lsp.features.completion import CompletionFeature

    arms = {"product": True, "fresh prompt": False}
    holes = [
        item.data
        for item in infill_suite().items
        if item.data["hole_kind"] == "multi" and item.data["hole"].split("\n")[1].strip()
    ][:items]
    warm: dict[str, list[float]] = {arm: [] for arm in arms}
    exact: dict[str, int] = dict.fromkeys(arms, 0)
    blank: dict[str, int] = dict.fromkeys(arms, 0)
    for index, hole in enumerate(holes):
        first, second = hole["hole"].split("\n")[:2]
        typed = first + "\n" + second[: len(second) - len(second.lstrip())]
        text, offset = hole["prefix"] + hole["suffix"], len(hole["prefix"])
        after = hole["prefix"] + typed + hole["suffix"]
        order = list(arms) if index % 2 == 0 else list(reversed(arms))
        for arm in order:
            feature = CompletionFeature(target._host, extend_prompts=arms[arm])
            uri = f"file:///infill/{index}.py#{arm}"
            times, answer = await _before_and_after_typing(
                feature, backend, uri, text, offset, after, len(typed)
            )
            warm[arm].append(times[1])
            line = answer.split("\n", 1)[0]
            exact[arm] += line.strip() == second.strip()
            blank[arm] += not line.strip()
            if SHOW:
                print(arm, repr(second.strip()), repr(answer[:60]))
    out: dict = {"new-line places": len(holes)}
    for arm in arms:
        out[f"after a new line: {arm}"] = _stats(warm[arm]) | {
            "exact match": exact[arm],
            "blank first line": blank[arm],
        }
    return out


async def _before_and_after_typing(
    feature, backend, uri: str, text: str, offset: int, after: str, typed: int
) -> tuple[tuple[float, float], str]:
    """A cold explicit request at ``offset``, then one after ``typed`` characters were
    typed there (``after``), the model's state kept: both latencies and the second answer."""
    from codetune_lsp.documents import UTF16, DocumentSnapshot

    backend.loaded.llm.reset()
    started = time.perf_counter()
    await feature.suggest(DocumentSnapshot(uri, 1, "python", text, UTF16), offset, True)
    cold = time.perf_counter() - started
    feature._served.pop(uri, None)  # a model call, not the type-ahead memory
    started = time.perf_counter()
    snap = DocumentSnapshot(uri, 2, "python", after, UTF16)
    suggestion = await feature.suggest(snap, offset + typed, True)
    warm = time.perf_counter() - started
    return (cold, warm), suggestion.text if suggestion is not None else ""


def _stats(samples: list[float]) -> dict[str, float]:
    return {"median s": statistics.median(samples), "p95 s": pick(samples, 0.95)}


async def _measure(items: int, parts: set[str], suite: str) -> dict:
    from codetune_lsp.cli.context import CliContext
    from codetune_lsp.evaluation.session import make_runner, plan
    from codetune_lsp.evaluation.suites.crossfile import document_for
    from codetune_lsp.prompts.completion_text import cursor_kind
    from codetune_lsp.services import open_services

    cli = CliContext()
    paths, settings = cli.paths, cli.resolved.settings
    services = await asyncio.to_thread(open_services, settings, paths)
    api = suite == "crossfile-api"  # after ``module.``: the workspace index and name check
    chosen = plan(settings, suite, None, None, "context" if api else "no-context", items)
    target = make_runner(settings, services.store, services.library, chosen).target
    await target.start()
    backend = await target._host.models.ready(chosen.model)
    shipped = completion_text.CompletionShape.complete
    arms = {"product": shipped, "no early end": lambda self, raw: False}
    latency: dict[str, list[float]] = {arm: [] for arm in arms}
    served: dict[str, list[str]] = {arm: [] for arm in arms}
    kinds: dict[str, int] = {}
    out: dict = {}
    try:
        places = [document_for(item) for item in chosen.suite.items]
        _root, path, text, offset = places[0]
        await target.complete(path.as_uri() + "#load", text, offset)  # load the model
        if "warm" in parts:
            out["warm"] = await _measure_warm(target, backend, chosen, document_for, api)
        if "new-line" in parts:
            out["new-line"] = await _measure_warm_lines(target, backend, items)
        for index, (_root, path, text, offset) in enumerate(places if "early-end" in parts else []):
            kind = cursor_kind(text[:offset], text[offset:])
            kinds[kind] = kinds.get(kind, 0) + 1
            order = list(arms) if index % 2 == 0 else list(reversed(arms))
            for arm in order:
                completion_text.CompletionShape.complete = arms[arm]  # type: ignore[method-assign]
                # Cold for both arms: the second must not reuse the first one's evaluated
                # prompt (faster, and llama.cpp's batch split can change greedy output).
                backend.loaded.llm.reset()
                started = time.perf_counter()
                produced = await target.complete(f"{path.as_uri()}#{arm}", text, offset)
                latency[arm].append(time.perf_counter() - started)
                served[arm].append(produced.served)
    finally:
        completion_text.CompletionShape.complete = shipped  # type: ignore[method-assign]
        await target.aclose()
        await services.aclose()
    out |= {"places": len(places), "kinds": kinds}
    if "early-end" not in parts:
        return out
    for arm, samples in latency.items():
        out[arm] = {
            "median s": statistics.median(samples),
            "p95 s": pick(samples, 0.95),
            "mean s": statistics.fmean(samples),
        }
    out["median ratio product / no early end"] = (
        out["product"]["median s"] / out["no early end"]["median s"]
    )
    out["p95 ratio product / no early end"] = out["product"]["p95 s"] / out["no early end"]["p95 s"]
    out["served texts equal"] = sum(
        a == b for a, b in zip(served["product"], served["no early end"], strict=True)
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--parts", default="early-end,warm")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--max-prompt-tokens",
        type=int,
        help="features.completion.max_prompt_tokens (default: the product's)",
    )
    parser.add_argument("--show", action="store_true", help="print each warm place's answers")
    parser.add_argument(
        "--suite",
        choices=["crossfile", "crossfile-api"],
        default="crossfile",
        help="crossfile-api: places after `module.`, with the workspace index and name check",
    )
    args = parser.parse_args()
    global SHOW
    SHOW = args.show
    _sandbox(args.max_prompt_tokens)
    started = time.perf_counter()
    results = asyncio.run(_measure(args.items, set(args.parts.split(",")), args.suite))
    results["wall s"] = time.perf_counter() - started
    print(NOTE)
    shown = [*results.pop("warm", {}).items(), *results.pop("new-line", {}).items()]
    for key, value in [*shown, *results.items()]:
        if isinstance(value, dict):
            value = {k: round(v, 3) if isinstance(v, float) else v for k, v in value.items()}
        print(f"  {key:<40} {round(value, 3) if isinstance(value, float) else value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

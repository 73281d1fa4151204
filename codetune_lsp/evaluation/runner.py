"""Run a suite against a target and store the run: ``--jobs`` items at once, every item
judged as soon as it is produced and written at once, so an interrupted run resumes with
only the missing items (same suite hash, template version, model and parameters)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codetune_lsp.evaluation.sandbox import Limits, run_python
from codetune_lsp.evaluation.scoring import (
    judge_case,
    line_match,
    mean_pass_at_k,
    security_summary,
)
from codetune_lsp.evaluation.suites import Item, Suite
from codetune_lsp.evaluation.suites.humaneval import body_indent, test_program
from codetune_lsp.evaluation.targets import Produced, TargetInfo, item_uri

Progress = Callable[[int, int], None]
PASS_AT = (1, 5, 10, 100)


@dataclass(frozen=True)
class Outcome:
    item_id: str
    verdict: str  # pass | fail | error
    score: float
    raw: str
    served: str
    reason: str
    latency_ms: float


def item_key(item: Item, sample: int, samples: int) -> str:
    return item.id if samples == 1 else f"{item.id}#{sample}"


def base_id(key: str) -> str:
    return key.rsplit("#", 1)[0]


async def produce(target: Any, suite: Suite, item: Item, sample: int) -> tuple[Produced, str]:
    """The product's output for one item and the program that tests it ("" if none)."""
    uri = item_uri(item, sample)
    data = item.data
    if suite.kind == "humaneval" and suite.mode == "chat":
        produced = await target.implement(uri, data["prompt"])
        return produced, test_program(produced.served, data)
    if suite.kind == "humaneval":
        text = data["prompt"] + body_indent(data["prompt"])
        produced = await target.complete(uri, text, len(text))
        return produced, test_program(text + produced.served, data)
    if suite.kind == "infill":
        text = data["prefix"] + data["suffix"]
        produced = await target.complete(uri, text, len(data["prefix"]))
        return produced, test_program(data["prefix"] + produced.served + data["suffix"], data)
    if suite.kind == "security" and suite.mode == "fix":
        return await target.fix(uri, data["code"], data["cwe"], data["span"]), ""
    if suite.kind == "security":
        return await target.diagnose(uri, data["code"], suite.mode), ""
    if suite.kind == "crossfile":
        from codetune_lsp.evaluation.suites.crossfile import document_for

        root, path, text, offset = document_for(item)
        with_context = suite.mode == "context"
        return await target.complete_in_workspace(root, path, text, offset, with_context), ""
    if suite.kind == "actions":
        return await target.code_action(uri, data["code"], data["line"]), ""
    return await target.render_and_run(uri, dict(data.get("vars", {}))), ""


async def judge(
    target: Any, suite: Suite, item: Item, sample: int, samples: int, limits: Limits
) -> Outcome:
    key = item_key(item, sample, samples)
    try:
        produced, program = await produce(target, suite, item, sample)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the model or template failed for this item
        return Outcome(key, "error", 0.0, "", "", f"{type(exc).__name__}: {exc}"[:500], 0.0)
    served = produced.served
    if suite.kind == "security" and suite.mode == "fix":
        from codetune_lsp.evaluation.scoring import judge_fix

        passed, reason = judge_fix(item.data["cwe"], item.data["code"], served)
    elif suite.kind == "security":
        span = item.data.get("span")
        passed, _ = judge_case(item.data["cwe"], span, produced.findings)
        reason = "" if passed else ("missed" if span else "false alarm")
        served = json.dumps(produced.findings)
    elif suite.kind == "crossfile":
        passed, similarity = line_match(produced.served, item.data["target"])
        reason = "" if passed else f"expected {item.data['target']!r}"
        return Outcome(
            key,
            "pass" if passed else "fail",
            similarity,
            produced.raw,
            served,
            reason,
            produced.latency_ms,
        )
    elif suite.kind == "actions":
        from codetune_lsp.evaluation.action_scoring import judge_action

        passed, reason = await judge_action(suite.mode, item.data, served, limits)
    elif suite.kind == "user":
        from codetune_lsp.evaluation.suites.user import check_assertions

        passed, reason = await check_assertions(
            produced.served, produced.json, item.data.get("assert", []), limits
        )
    else:
        result = await run_python(program, limits)
        passed, reason = result.passed, result.reason
    if produced.error and not passed:
        reason = f"{produced.error}; {reason}" if reason else produced.error
    return Outcome(
        key,
        "pass" if passed else "fail",
        1.0 if passed else 0.0,
        produced.raw,
        served,
        reason,
        produced.latency_ms,
    )


def summarise(suite: Suite, items: list[Any], samples: int) -> dict[str, Any]:
    """The run's summary from its stored items (the names the report reads)."""
    verdicts = {i.item_id: i for i in items}
    counts: dict[str, list[int]] = {}
    for key, info in verdicts.items():
        n_c = counts.setdefault(base_id(key), [0, 0])
        n_c[0] += 1
        n_c[1] += info.verdict == "pass"
    pairs = [(n, c) for n, c in counts.values()]
    summary: dict[str, Any] = {
        "n_items": len(counts),
        "samples": samples,
        "passed": sum(i.verdict == "pass" for i in items),
        "failed": sum(i.verdict == "fail" for i in items),
        "errors": sum(i.verdict == "error" for i in items),
        "pass@1": mean_pass_at_k(pairs, 1) if pairs else 0.0,
    }
    for k in PASS_AT[1:]:
        if samples >= k:
            summary[f"pass@{k}"] = mean_pass_at_k(pairs, k)
    latencies = sorted(i.latency_ms for i in items if i.latency_ms is not None)
    if latencies:
        summary["latency_ms_median"] = latencies[len(latencies) // 2]
        summary["latency_ms_p95"] = nearest_rank(latencies, 0.95)
    if suite.kind == "crossfile":
        summary["exact_match"] = summary["passed"] / max(len(items), 1)
        summary["edit_similarity"] = sum(i.score for i in items) / max(len(items), 1)
    if suite.kind == "actions":
        from codetune_lsp.evaluation.action_scoring import actions_summary

        summary |= actions_summary(suite.mode, [i.served_output or "" for i in items])
    if suite.kind == "infill":
        for kind in ("single", "multi"):
            chosen = [(n, c) for key, (n, c) in counts.items() if key.endswith("/" + kind)]
            if chosen:
                summary[f"{kind}_line"] = mean_pass_at_k(chosen, 1)
    if suite.kind == "security" and suite.mode != "fix":
        by_id = {item.id: item for item in suite.items}
        cases = []
        for info in items:
            item = by_id.get(base_id(info.item_id))
            if item is None:
                continue
            findings = json.loads(info.served_output or "[]") if info.verdict != "error" else []
            span = item.data.get("span")
            _, marks = judge_case(item.data["cwe"], span, findings)
            cases.append((item.data["cwe"], span is not None, marks))
        summary |= security_summary(cases)
    return summary


def nearest_rank(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values by the nearest-rank rule."""
    rank = max(1, math.ceil(q * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


class Runner:
    """One run of ``suite`` on ``target``, stored in ``store``."""

    def __init__(
        self,
        store: Any,
        suite: Suite,
        target: Any,
        *,
        jobs: int = 1,
        samples: int = 1,
        limits: Limits | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.suite = suite
        self.target = target
        self.jobs = max(1, jobs)
        self.samples = max(1, samples)
        self.limits = limits or Limits()
        self.progress = progress
        self.resumed = 0

    def identity(self, info: TargetInfo, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "suite": self.suite.name,
            "suite_hash": self.suite.hash,
            "mode": self.suite.mode,
            "template_version_id": info.template_version_id,
            "model_profile": info.model_profile,
            "params": {**params, "samples": self.samples},
        }

    async def run(self) -> Any:
        """Run (or resume) and finish the run; returns the finished RunInfo."""
        repo = self.store.evaluations
        info: TargetInfo = await self.target.start()
        try:
            identity = self.identity(info, self.target.params)
            run = await asyncio.to_thread(
                self.store.read, lambda s: repo.find_unfinished(s, **identity)
            )
            if run is None:
                run = await asyncio.to_thread(
                    self.store.write,
                    lambda s: repo.create_run(
                        s,
                        **identity,
                        template_name=info.template_name,
                        model_id=info.model_id,
                        model_revision=info.model_revision,
                        quantization=info.quantization,
                    ),
                )
            done = {
                i.item_id
                for i in await asyncio.to_thread(
                    self.store.read, lambda s: repo.list_items(s, run.id)
                )
            }
            self.resumed = len(done)
            todo = [
                (item, sample)
                for item in self.suite.items
                for sample in range(self.samples)
                if item_key(item, sample, self.samples) not in done
            ]
            await self._run_items(run.id, todo, len(done))
            return await asyncio.to_thread(self._finish, run.id, info)
        finally:
            await self.target.aclose()

    async def _run_items(self, run_id: str, todo: list[tuple[Item, int]], done: int) -> None:
        repo = self.store.evaluations
        total = done + len(todo)
        finished = done
        gate = asyncio.Semaphore(self.jobs)
        writes: set[asyncio.Future[Any]] = set()
        if self.progress:
            self.progress(finished, total)

        async def one(item: Item, sample: int) -> None:
            nonlocal finished
            async with gate:
                outcome = await judge(
                    self.target, self.suite, item, sample, self.samples, self.limits
                )
            row = repo.ItemInfo(
                outcome.item_id,
                outcome.verdict,
                outcome.score,
                outcome.raw,
                outcome.served,
                outcome.reason,
                outcome.latency_ms,
            )
            # A judged item is kept even when the run is interrupted meanwhile.
            write = asyncio.ensure_future(
                asyncio.to_thread(self.store.write, lambda s: repo.add_item(s, run_id, row))
            )
            writes.add(write)
            await asyncio.shield(write)
            finished += 1
            if self.progress:
                self.progress(finished, total)

        tasks = [asyncio.ensure_future(one(item, sample)) for item, sample in todo]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if writes:  # items judged before the interruption reach the store first
                await asyncio.wait(writes)
            raise

    def _finish(self, run_id: str, info: TargetInfo) -> Any:
        repo = self.store.evaluations
        started = time.perf_counter()
        items = self.store.read(lambda s: repo.list_items(s, run_id))
        summary = summarise(self.suite, items, self.samples)
        summary["summarised_in_s"] = round(time.perf_counter() - started, 3)
        return self.store.write(lambda s: repo.finish_run(s, run_id, summary, info.model_id))


class ReferenceTarget:
    """Answers every item with the suite's reference: the canonical solution, the hole's
    text, or (``empty=True``) nothing. Checks the harness itself; no model involved."""

    def __init__(self, empty: bool = False) -> None:
        self.empty = empty
        self.params = {"reference": "empty" if empty else "canonical"}
        self._answers: dict[str, str] = {}

    async def start(self) -> TargetInfo:
        name = "reference-empty" if self.empty else "reference"
        return TargetInfo(name, None, None, name, name, None, None)

    async def aclose(self) -> None:
        pass

    async def implement(self, uri: str, text: str) -> Produced:
        raise NotImplementedError("the reference target answers completion items only")

    async def complete(self, uri: str, text: str, offset: int) -> Produced:
        answer = "" if self.empty else self._answers[uri]
        return Produced(answer, answer, 0.0)

    def load(self, suite: Suite, samples: int = 1) -> ReferenceTarget:
        for item in suite.items:
            answer = item.data.get("canonical_solution", item.data.get("hole", ""))
            if suite.kind == "humaneval":
                indent = body_indent(item.data["prompt"])
                answer = answer[len(indent) :] if answer.startswith(indent) else answer
            for sample in range(samples):
                self._answers[item_uri(item, sample)] = answer
        return self

"""The harness judged against the reference answers: what passes must pass, what is
empty must fail, and an interrupted run resumes with only the missing items."""

from __future__ import annotations

import asyncio

import pytest

from codetune_lsp.evaluation.runner import ReferenceTarget, Runner
from codetune_lsp.evaluation.suites import load_suite
from codetune_lsp.store import Store


def _run(store: Store, suite_name: str, mode: str | None, empty: bool, jobs: int = 2, limit=None):
    suite = load_suite(suite_name, mode).limited(limit)
    target = ReferenceTarget(empty=empty).load(suite)
    return asyncio.run(Runner(store, suite, target, jobs=jobs).run()), suite


def test_canonical_solutions_pass_all_164_problems(eval_store: Store) -> None:
    run, suite = _run(eval_store, "humaneval", "completion", empty=False)
    assert len(suite.items) == 164
    assert run.status == "finished" and run.n_items == 164
    assert run.summary["pass@1"] == 1.0, [
        (i.item_id, i.reason)
        for i in eval_store.read(lambda s: eval_store.evaluations.list_items(s, run.id))
        if i.verdict != "pass"
    ]


def test_empty_bodies_pass_nothing(eval_store: Store) -> None:
    run, _ = _run(eval_store, "humaneval", "completion", empty=True, limit=20)
    assert run.summary["pass@1"] == 0.0 and run.summary["failed"] == 20


def test_infill_holes_refilled_with_their_text_pass(eval_store: Store) -> None:
    run, suite = _run(eval_store, "humaneval-infill", None, empty=False, limit=40)
    assert run.summary["pass@1"] == 1.0
    assert run.summary["single_line"] == 1.0 and run.summary["multi_line"] == 1.0
    kinds = {item.data["hole_kind"] for item in suite.items}
    assert kinds == {"single", "multi"}


def test_infill_suite_is_deterministic() -> None:
    assert load_suite("humaneval-infill").hash == load_suite("humaneval-infill").hash
    items = load_suite("humaneval-infill").items
    assert all(i.data["hole"].strip() for i in items)
    assert {i.data["hole_kind"] for i in items if "\n" in i.data["hole"]} == {"multi"}


class _Interrupting(ReferenceTarget):
    """Cancels the whole run once ``after`` items have been produced."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.calls: list[str] = []

    async def complete(self, uri: str, text: str, offset: int):  # type: ignore[no-untyped-def]
        self.calls.append(uri)
        if len(self.calls) > self.after:
            raise asyncio.CancelledError
        return await super().complete(uri, text, offset)


def test_an_interrupted_run_resumes_with_only_the_missing_items(eval_store: Store) -> None:
    suite = load_suite("humaneval", "completion").limited(8)
    first = _Interrupting(after=3).load(suite)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(Runner(eval_store, suite, first, jobs=1).run())
    repo = eval_store.evaluations
    (running,) = eval_store.read(lambda s: repo.list_runs(s, status="running"))
    stored = eval_store.read(lambda s: repo.list_items(s, running.id))
    assert len(stored) == 3

    second = _Interrupting(after=100).load(suite)
    runner = Runner(eval_store, suite, second, jobs=2)
    finished = asyncio.run(runner.run())
    assert finished.id == running.id and runner.resumed == 3
    assert len(second.calls) == 5
    assert finished.status == "finished" and finished.summary["pass@1"] == 1.0
    with pytest.raises(Exception, match="immutable"):
        eval_store.write(
            lambda s: repo.add_item(s, finished.id, repo.ItemInfo("x", "pass", 1, "", "", "", 0))
        )

"""The promotion gate: a candidate version may replace production only if it is not
significantly worse on a suite, with the same model (runs reused when they match)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codetune_lsp.evaluation.compare import Comparison, compare_items
from codetune_lsp.evaluation.session import make_runner, plan


@dataclass(frozen=True)
class GateResult:
    allowed: bool
    message: str
    baseline_run: str | None
    candidate_run: str | None
    comparison: Comparison | None


def paired(store: Any, run_id: str) -> dict[str, tuple[bool, float]]:
    repo = store.evaluations
    items = store.read(lambda s: repo.list_items(s, run_id))
    return {i.item_id: (i.verdict == "pass", float(i.score)) for i in items}


def evaluated(
    settings: Any,
    store: Any,
    library: Any,
    suite: str,
    ref: str,
    model: str | None,
    mode: str | None,
    jobs: int,
    backend_factory: Any = None,
    say: Callable[[str], None] = lambda _: None,
    limit: int | None = None,
) -> Any:
    """A finished run of ``ref`` on ``suite``: reused when one matches, else run now."""
    chosen = plan(settings, suite, ref, model, mode, limit)
    runner = make_runner(
        settings, store, library, chosen, jobs=jobs, backend_factory=backend_factory
    )
    target = runner.target
    repo = store.evaluations
    found = store.read(
        lambda s: repo.find_finished(
            s,
            suite_hash=chosen.suite.hash,
            mode=chosen.suite.mode,
            template_version_id=target.resolved.version_id,
            model_profile=chosen.model,
            params={**target.params, "samples": 1},
        )
    )
    if found is not None:
        say(f"reusing run {found.id} for {ref} (v{target.resolved.version})")
        return found
    say(f"evaluating {ref} (v{target.resolved.version}) on {suite} with {chosen.model}")
    return asyncio.run(runner.run())


def check_promotion(
    settings: Any,
    store: Any,
    library: Any,
    name: str,
    version: int,
    suite: str,
    *,
    label: str = "production",
    model: str | None = None,
    mode: str | None = None,
    limit: int | None = None,
    jobs: int = 1,
    backend_factory: Any = None,
    say: Callable[[str], None] = lambda _: None,
) -> GateResult:
    current = library.get(name, label=label)
    if current.version == version:
        return GateResult(True, f"{name}: {label} is already v{version}", None, None, None)
    common = (settings, store, library, suite)
    baseline = evaluated(
        *common, f"{name}:{current.version}", model, mode, jobs, backend_factory, say, limit
    )
    candidate = evaluated(
        *common, f"{name}:{version}", model, mode, jobs, backend_factory, say, limit
    )
    result = compare_items(paired(store, baseline.id), paired(store, candidate.id))
    figures = (
        f"v{version} {100 * result.rate_b:.1f}% vs {label} v{current.version} "
        f"{100 * result.rate_a:.1f}% on {suite} (n={result.n}, {len(result.fixed)} fixed, "
        f"{len(result.broken)} broken, McNemar p={result.p_value:.3g})"
    )
    if result.verdict == "worse":
        return GateResult(
            False,
            f"refused: {figures}: significantly worse",
            baseline.id,
            candidate.id,
            result,
        )
    return GateResult(True, f"{figures}: {result.verdict}", baseline.id, candidate.id, result)

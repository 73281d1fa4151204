"""Comparing versions: significance only with enough data, and in the right direction."""

from __future__ import annotations

from codetune_lsp.store.history import StatsRow
from codetune_lsp.store.significance import compare_versions, two_proportion_p


def row(
    group: str, count: int, ok: float, decided: int = 0, accept: float | None = None
) -> StatsRow:
    return StatsRow(group, count, ok, 100.0, 200.0, None, 0, 0, 0.0, 0.0, decided, accept, decided)


def test_p_values_match_known_cases() -> None:
    assert two_proportion_p(50, 100, 50, 100) == 1.0
    assert 0.04 < two_proportion_p(60, 100, 46, 100) < 0.06  # z ~ 1.98
    assert two_proportion_p(90, 100, 50, 100) < 1e-6


def test_large_real_differences_are_significant_small_ones_not() -> None:
    rows = [
        row("code_action.explain@v1", 400, 0.90, 200, 0.30),
        row("code_action.explain@v2", 400, 0.97, 200, 0.32),
    ]
    success, acceptance = compare_versions(rows)
    assert success.metric == "success" and success.verdict.startswith("significant")
    assert acceptance.metric == "acceptance" and acceptance.verdict.startswith(
        "not yet significant"
    )


def test_too_little_data_gives_no_verdict() -> None:
    rows = [row("t@v1", 5, 1.0), row("t@v2", 6, 0.0)]
    success, acceptance = compare_versions(rows)
    assert success.verdict.startswith("not enough data")
    assert acceptance.verdict == "no data for one version"


def test_only_versions_of_the_same_template_are_compared() -> None:
    rows = [row("a@v1", 50, 0.5), row("b@v1", 50, 0.5), row("total", 100, 0.5)]
    assert compare_versions(rows) == []

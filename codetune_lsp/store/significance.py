"""Comparing template versions (experiment arms): is a difference real yet?

Success and acceptance rates are compared with a two-proportion z-test (normal
approximation, two-sided). Below a minimum sample the answer is "not enough data", never a
verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from codetune_lsp.store.history import StatsRow

ALPHA = 0.05
MIN_SAMPLE = 10


def two_proportion_p(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Two-sided p-value that two rates differ (1.0 when it cannot be computed)."""
    if n_a == 0 or n_b == 0:
        return 1.0
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0:
        return 1.0
    z = abs(hits_a / n_a - hits_b / n_b) / spread
    return math.erfc(z / math.sqrt(2))


@dataclass(frozen=True)
class Comparison:
    template: str
    a: str
    b: str
    metric: str
    rate_a: float | None
    rate_b: float | None
    n_a: int
    n_b: int
    p_value: float | None
    verdict: str

    def describe(self) -> str:
        if self.rate_a is None or self.rate_b is None:
            return f"{self.template} {self.a} vs {self.b}: {self.metric}: {self.verdict}"
        return (
            f"{self.template} {self.a} vs {self.b}: {self.metric} {100 * self.rate_a:.1f}% vs "
            f"{100 * self.rate_b:.1f}% (n={self.n_a}/{self.n_b}): {self.verdict}"
        )


def _verdict(p: float | None, n_a: int, n_b: int) -> str:
    if min(n_a, n_b) < MIN_SAMPLE:
        return f"not enough data yet (need {MIN_SAMPLE} per version)"
    assert p is not None
    if p < ALPHA:
        return f"significant (p={p:.3f})"
    return f"not yet significant (p={p:.2f})"


def compare_versions(rows: Sequence[StatsRow]) -> list[Comparison]:
    """Pairwise comparisons of the versions of each template in ``stats --by version`` rows."""
    by_template: dict[str, list[StatsRow]] = {}
    for row in rows:
        name, sep, version = row.group.rpartition("@")
        if sep and version.startswith("v"):
            by_template.setdefault(name, []).append(row)
    found = []
    for template, versions in by_template.items():
        for a, b in combinations(versions, 2):
            va, vb = a.group.rpartition("@")[2], b.group.rpartition("@")[2]
            metrics = (
                ("success", a.success_rate, b.success_rate, a.count, b.count),
                ("acceptance", a.acceptance_rate, b.acceptance_rate, a.decided, b.decided),
            )
            for metric, rate_a, rate_b, n_a, n_b in metrics:
                if rate_a is None or rate_b is None:
                    found.append(
                        Comparison(
                            template,
                            va,
                            vb,
                            metric,
                            rate_a,
                            rate_b,
                            n_a,
                            n_b,
                            None,
                            "no data for one version",
                        )
                    )
                    continue
                p = two_proportion_p(round(rate_a * n_a), n_a, round(rate_b * n_b), n_b)
                found.append(
                    Comparison(
                        template, va, vb, metric, rate_a, rate_b, n_a, n_b, p, _verdict(p, n_a, n_b)
                    )
                )
    return found

"""Paired comparison of two runs on the same suite: which items got fixed or broken, and
whether the difference is real.

Pass/fail: the exact McNemar test (a two-sided binomial test on the discordant pairs).
Scores: a percentile bootstrap interval of the mean paired difference. Either gives
better / worse / no significant difference at ``alpha``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import comb

ALPHA = 0.05
BOOTSTRAP_ROUNDS = 2000


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none)."""
    n = fixed + broken
    if n == 0:
        return 1.0
    low = min(fixed, broken)
    tail = sum(comb(n, i) for i in range(low + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_interval(
    differences: Sequence[float],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    alpha: float = ALPHA,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the mean of ``differences`` (deterministic for a seed)."""
    if not differences:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(differences)
    means = sorted(sum(rng.choices(differences, k=n)) / n for _ in range(rounds))
    low = means[int(alpha / 2 * rounds)]
    high = means[min(rounds - 1, int((1 - alpha / 2) * rounds))]
    return (low, high)


@dataclass
class Comparison:
    n: int
    fixed: list[str] = field(default_factory=list)  # failed in A, passed in B
    broken: list[str] = field(default_factory=list)  # passed in A, failed in B
    same: int = 0
    only_a: int = 0
    only_b: int = 0
    rate_a: float = 0.0
    rate_b: float = 0.0
    p_value: float = 1.0
    mean_difference: float = 0.0
    interval: tuple[float, float] = (0.0, 0.0)
    verdict: str = "no significant difference"

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "fixed": self.fixed,
            "broken": self.broken,
            "same": self.same,
            "only_a": self.only_a,
            "only_b": self.only_b,
            "rate_a": self.rate_a,
            "rate_b": self.rate_b,
            "p_value": self.p_value,
            "mean_difference": self.mean_difference,
            "interval": list(self.interval),
            "verdict": self.verdict,
        }


def compare_items(
    a: Mapping[str, tuple[bool, float]],
    b: Mapping[str, tuple[bool, float]],
    *,
    alpha: float = ALPHA,
) -> Comparison:
    """Compare B against A item by item ({item id: (passed, score)}; shared ids only).

    The verdict is "better"/"worse" when McNemar rejects at ``alpha`` or, for scores that
    are not plain pass/fail, when the bootstrap interval of B - A excludes 0.
    """
    shared = [key for key in a if key in b]
    result = Comparison(n=len(shared), only_a=len(a) - len(shared), only_b=len(b) - len(shared))
    differences = []
    for key in shared:
        (pass_a, score_a), (pass_b, score_b) = a[key], b[key]
        if pass_a and not pass_b:
            result.broken.append(key)
        elif pass_b and not pass_a:
            result.fixed.append(key)
        else:
            result.same += 1
        differences.append(score_b - score_a)
    if not shared:
        result.verdict = "no items in common"
        return result
    result.rate_a = sum(a[k][0] for k in shared) / len(shared)
    result.rate_b = sum(b[k][0] for k in shared) / len(shared)
    result.p_value = mcnemar_exact(len(result.fixed), len(result.broken))
    result.mean_difference = sum(differences) / len(differences)
    result.interval = bootstrap_interval(differences, alpha=alpha)
    binary = all(a[k][1] in (0.0, 1.0) and b[k][1] in (0.0, 1.0) for k in shared)
    significant = result.p_value < alpha or (
        not binary and (result.interval[0] > 0 or result.interval[1] < 0)
    )
    if significant and result.mean_difference > 0:
        result.verdict = "better"
    elif significant and result.mean_difference < 0:
        result.verdict = "worse"
    return result

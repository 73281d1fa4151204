"""Scores: pass@k (the unbiased estimator of Chen et al., 2021) and per-CWE precision,
recall and F1 for the security suite."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# CWE-327 (broken algorithm) and CWE-328 (weak hash) are one class in the suite.
CWE_CLASSES = {"CWE-328": "CWE-327"}
_CWE = re.compile(r"CWE[-_ ]?(\d+)", re.IGNORECASE)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The probability that at least one of k samples drawn from n (c correct) passes:
    1 - C(n-c, k) / C(n, k), computed as a stable product."""
    if not 0 <= c <= n or k < 1 or n < 1:
        raise ValueError(f"need 0 <= c <= n, n >= 1 and k >= 1 (n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"k={k} needs at least {k} samples per item, got {n}")
    if n - c < k:
        return 1.0
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """Average pass@k over items given (n samples, c correct) per item."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    return sum(values) / len(values) if values else 0.0


def cwe_class(rule: str) -> str | None:
    """``CWE-89`` from a finding's rule or message text; None if it names no CWE."""
    match = _CWE.search(rule or "")
    if not match:
        return None
    name = f"CWE-{int(match.group(1))}"
    return CWE_CLASSES.get(name, name)


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


def judge_case(
    cwe: str, span: Sequence[int] | None, findings: Sequence[Mapping[str, Any]]
) -> tuple[bool, list[tuple[str, str]]]:
    """One security case: (passed, [(cwe class, "tp"|"fp")...] for each finding).

    A vulnerable case (``span`` given) passes when a finding has its CWE class on a line
    inside the span; a fixed twin (``span`` None) passes when no finding names a CWE.
    A second hit on the same case is not another true positive, and not a false one.
    """
    wanted = CWE_CLASSES.get(cwe, cwe)
    marks: list[tuple[str, str]] = []
    hit = False
    for finding in findings:
        found = cwe_class(f"{finding.get('rule', '')} {finding.get('message', '')}")
        if found is None:
            continue
        line = int(finding.get("line", 0))
        end = int(finding.get("end_line", line) or line)
        inside = span is not None and line <= span[1] and end >= span[0]
        if span is not None and found == wanted and inside:
            if not hit:
                marks.append((found, "tp"))
            hit = True
        else:
            marks.append((found, "fp"))
    passed = hit if span is not None else not marks
    return passed, marks


def security_summary(cases: Iterable[tuple[str, bool, list[tuple[str, str]]]]) -> dict[str, Any]:
    """Per-CWE and overall counts from (cwe, is_vulnerable, marks) per judged case."""
    per: dict[str, Counts] = {}
    total = Counts()
    for cwe, vulnerable, marks in cases:
        wanted = CWE_CLASSES.get(cwe, cwe)
        counts = per.setdefault(wanted, Counts())
        got_tp = any(kind == "tp" for _, kind in marks)
        if vulnerable and not got_tp:
            counts.fn += 1
            total.fn += 1
        for found, kind in marks:
            bucket = per.setdefault(found, Counts())
            if kind == "tp":
                bucket.tp += 1
                total.tp += 1
            else:
                bucket.fp += 1
                total.fp += 1
    return {
        "per_cwe": {name: per[name].as_dict() for name in sorted(per)},
        "precision": total.precision,
        "recall": total.recall,
        "f1": total.f1,
        "tp": total.tp,
        "fp": total.fp,
        "fn": total.fn,
    }


def finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def headline(summary: dict[str, Any] | None) -> tuple[str, float | None]:
    """The one figure a run is ranked by: F1 for the security suite, else pass@1."""
    summary = summary or {}
    if "per_cwe" in summary:
        return "f1", summary.get("f1")
    return "pass@1", summary.get("pass@1")


def line_match(served: str, expected: str) -> tuple[bool, float]:
    """Exact match and edit similarity (0..1, difflib's ratio) of a completion's first
    line against the held-out line, both stripped of surrounding whitespace."""
    first = served.split("\n", 1)[0].strip()
    wanted = expected.strip()
    return first == wanted, difflib.SequenceMatcher(None, first, wanted).ratio()


def judge_fix(cwe: str, original: str, fixed: str) -> tuple[bool, str]:
    """A quick fix for a ``cwe`` weakness in ``original``: (passed, why not).

    It passes when the fixed file parses, still defines every top-level function and class
    the original did, and the rule sets no longer report that CWE class anywhere in it.
    Behaviour is not executed: these snippets import web frameworks and databases.
    """
    import ast

    from codetune_lsp.rules import scan

    if fixed.strip() == original.strip():
        return False, "not changed"
    try:
        tree = ast.parse(fixed)
    except SyntaxError as exc:
        return False, f"does not parse: {exc.msg} (line {exc.lineno})"
    lost = sorted(_top_level_names(ast.parse(original)) - _top_level_names(tree))
    if lost:
        return False, f"definitions lost: {', '.join(lost)}"
    wanted = CWE_CLASSES.get(cwe, cwe)
    remaining = [
        hit for hit in scan(fixed, "python", ["python-security"]) if cwe_class(hit.rule) == wanted
    ]
    if remaining:
        return False, f"still reported: {remaining[0].rule} on line {remaining[0].line}"
    return True, ""


def _top_level_names(tree: Any) -> set[str]:
    import ast

    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {node.name for node in tree.body if isinstance(node, kinds)}

"""The ``security`` suites: each labelled vulnerable case (CWE, span) and its fixed twin.

``security`` is the development set; ``security-holdout`` was written by another hand without
sight of the rule sets, so it is the fairer measure of them. The ``fix`` mode keeps the
vulnerable cases only: the quick fix is asked for each, and judged by whether the weakness
is gone (``scoring.judge_fix``).
"""

from __future__ import annotations

from codetune_lsp.evaluation.suites import Item, Suite

MARK = "#<"


def unmark(marked: str) -> tuple[str, list[int]]:
    """The code without the span markers, and the [first, last] marked line (1-based)."""
    lines, span = [], []
    for number, line in enumerate(marked.split("\n"), start=1):
        if line.rstrip().endswith(MARK):
            span.append(number)
            line = line.rstrip()[: -len(MARK)].rstrip()
        lines.append(line)
    return "\n".join(lines), [min(span), max(span)]


def security_suite(mode: str = "diagnostics", *, holdout: bool = False) -> Suite:
    if holdout:
        from codetune_lsp.evaluation.suites.security_holdout_cases import HOLDOUT_CASES as cases
    else:
        from codetune_lsp.evaluation.suites.security_cases import CASES as cases
    items = []
    for case_id, cwe, source, vulnerable, fixed in cases:
        code, span = unmark(vulnerable)
        items.append(
            Item(
                f"{case_id}/vulnerable", {"cwe": cwe, "code": code, "span": span, "source": source}
            )
        )
        if mode == "fix":
            continue
        items.append(
            Item(f"{case_id}/fixed", {"cwe": cwe, "code": fixed, "span": None, "source": source})
        )
    name = "security-holdout" if holdout else "security"
    return Suite(name, "security", mode, tuple(items))

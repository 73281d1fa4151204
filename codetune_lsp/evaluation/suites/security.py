"""The ``security`` suite: each labelled vulnerable case (CWE, span) and its fixed twin."""

from __future__ import annotations

from codetune_lsp.evaluation.suites import Item, Suite
from codetune_lsp.evaluation.suites.security_cases import CASES

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


def security_suite() -> Suite:
    items = []
    for case_id, cwe, source, vulnerable, fixed in CASES:
        code, span = unmark(vulnerable)
        items.append(
            Item(
                f"{case_id}/vulnerable", {"cwe": cwe, "code": code, "span": span, "source": source}
            )
        )
        items.append(
            Item(f"{case_id}/fixed", {"cwe": cwe, "code": fixed, "span": None, "source": source})
        )
    return Suite("security", "security", "diagnostics", tuple(items))

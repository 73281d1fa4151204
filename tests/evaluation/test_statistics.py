"""pass@k, McNemar and the bootstrap against hand-computed values; CWE matching rules."""

from __future__ import annotations

from math import comb

import pytest

from codetune_lsp.evaluation.compare import bootstrap_interval, compare_items, mcnemar_exact
from codetune_lsp.evaluation.scoring import judge_case, pass_at_k, security_summary


@pytest.mark.parametrize(
    ("n", "c", "k"), [(10, 3, 1), (10, 3, 5), (20, 0, 5), (5, 5, 1), (7, 2, 6)]
)
def test_pass_at_k_matches_the_closed_form(n: int, c: int, k: int) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_pass_at_k_by_hand() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(3, 2, 2) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_mcnemar_exact_by_hand() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)  # two-sided, all 5 one way
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(3, 3) == 1.0


def test_bootstrap_interval_brackets_the_mean_and_is_deterministic() -> None:
    diffs = [1.0] * 30 + [0.0] * 10
    low, high = bootstrap_interval(diffs)
    assert 0 < low < 0.75 < high <= 1.0
    assert bootstrap_interval(diffs) == (low, high)
    assert bootstrap_interval([0.0] * 10) == (0.0, 0.0)


def test_compare_items_gives_a_paired_verdict() -> None:
    a = {f"t{i}": (True, 1.0) for i in range(20)}
    worse = {f"t{i}": (i >= 12, 1.0 if i >= 12 else 0.0) for i in range(20)}
    result = compare_items(a, worse)
    assert result.verdict == "worse" and len(result.broken) == 12 and result.same == 8
    assert compare_items(a, a).verdict == "no significant difference"
    one_off = {**a, "t0": (False, 0.0)}
    assert compare_items(a, one_off).verdict == "no significant difference"
    assert compare_items(worse, a).verdict == "better"


def test_a_finding_counts_when_its_cwe_matches_inside_the_span() -> None:
    hit = [{"line": 4, "end_line": 4, "rule": "CWE-89", "message": "SQL injection"}]
    assert judge_case("CWE-89", [3, 5], hit) == (True, [("CWE-89", "tp")])
    outside = [{"line": 9, "rule": "CWE-89", "message": ""}]
    assert judge_case("CWE-89", [3, 5], outside) == (False, [("CWE-89", "fp")])
    weak_hash = [{"line": 2, "rule": "security", "message": "MD5 is weak (CWE-328)"}]
    assert judge_case("CWE-327", [2, 2], weak_hash)[0]
    assert judge_case("CWE-89", None, []) == (True, [])
    assert judge_case("CWE-89", None, hit)[0] is False
    summary = security_summary(
        [
            ("CWE-89", True, [("CWE-89", "tp")]),
            ("CWE-89", False, [("CWE-89", "fp")]),
            ("CWE-78", True, []),
        ]
    )
    assert summary["per_cwe"]["CWE-89"]["precision"] == 0.5
    assert summary["per_cwe"]["CWE-78"]["recall"] == 0.0 and summary["fn"] == 1


def test_a_fix_passes_when_the_weakness_is_gone_and_the_code_still_stands() -> None:
    from codetune_lsp.evaluation.scoring import judge_fix

    weak = "import os\n\ndef ping(host):\n    os.system('ping -c 1 ' + host)\n"
    fixed = "import subprocess\n\ndef ping(host):\n    subprocess.run(['ping', '-c', '1', host])\n"
    assert judge_fix("CWE-78", weak, fixed) == (True, "")
    assert judge_fix("CWE-78", weak, weak) == (False, "not changed")
    passed, why = judge_fix("CWE-78", weak, "def ping(host:\n")
    assert not passed and why.startswith("does not parse")
    passed, why = judge_fix("CWE-78", weak, "import subprocess\n\ndef pong():\n    pass\n")
    assert (passed, why) == (False, "definitions lost: ping")
    shell = "import os\n\ndef ping(host):\n    os.system('ping -c 2 ' + host)\n"
    assert judge_fix("CWE-78", weak, shell) == (False, "still reported: CWE-78 on line 4")

"""The built-in suites' shape: sizes, labels and determinism."""

from __future__ import annotations

import ast
from collections import Counter

from codetune_lsp.evaluation.suites import load_suite

CLASSES = {
    "CWE-78",
    "CWE-89",
    "CWE-22",
    "CWE-94",
    "CWE-502",
    "CWE-798",
    "CWE-330",
    "CWE-611",
    "CWE-918",
}


def test_security_suite_has_forty_labelled_cases_each_with_a_clean_twin() -> None:
    suite = load_suite("security")
    vulnerable = [i for i in suite.items if i.data["span"]]
    fixed = [i for i in suite.items if i.data["span"] is None]
    assert len(vulnerable) >= 40 and len(fixed) == len(vulnerable)
    per_class = Counter(i.data["cwe"] for i in vulnerable)
    assert set(per_class) >= CLASSES and per_class["CWE-327"] + per_class["CWE-328"] >= 4
    for item in suite.items:
        ast.parse(item.data["code"])
        assert "#<" not in item.data["code"] and item.data["source"]
    for item in vulnerable:
        first, last = item.data["span"]
        assert 1 <= first <= last <= len(item.data["code"].split("\n"))


def test_the_holdout_set_has_thirty_other_cases_and_the_fix_mode_only_vulnerable_ones() -> None:
    development, holdout = load_suite("security"), load_suite("security-holdout")
    assert len(holdout.items) == 60 and holdout.hash != development.hash
    codes = {i.data["code"] for i in development.items}
    assert not codes & {i.data["code"] for i in holdout.items}
    assert {i.data["cwe"] for i in holdout.items if i.data["span"]} >= CLASSES
    for item in holdout.items:
        ast.parse(item.data["code"])
    fix = load_suite("security", "fix")
    assert len(fix.items) == 40 and all(i.data["span"] for i in fix.items)
    assert load_suite("security", "diagnostics").hash == development.hash


def test_humaneval_has_164_problems_and_a_stable_hash() -> None:
    chat, completion = load_suite("humaneval", "chat"), load_suite("humaneval", "completion")
    assert len(chat.items) == 164 and chat.hash != completion.hash
    assert chat.hash == load_suite("humaneval", "chat").hash

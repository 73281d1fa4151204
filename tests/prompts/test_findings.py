"""Findings are placed on the line they quote, or on the call their CWE is about."""

from __future__ import annotations

from codetune_lsp.prompts.findings import anchor_line

LINES = [
    "import subprocess",
    "",
    "def find_user(db, name):",
    "    # look the user up",
    "    return db.execute(f\"SELECT * FROM users WHERE name = '{name}'\").fetchall()",
    "",
    "def ping(host):",
    '    return subprocess.call(f"ping -c 1 {host}", shell=True)',
]


def test_a_miscounted_line_moves_to_the_nearest_call_of_its_cwe() -> None:
    assert anchor_line(3, "def find_user(db, name):", "CWE-89", LINES, 1, 8) == 5
    assert anchor_line(7, "return ping(host)", "CWE-78", LINES, 1, 8) == 8


def test_the_quote_places_a_finding_whose_cwe_names_no_call() -> None:
    assert anchor_line(1, "# look the user up", "CWE-20", LINES, 1, 8) == 4


def test_a_line_outside_the_range_is_recovered_from_the_quote() -> None:
    quote = 'return subprocess.call(f"ping -c 1 {host}", shell=True)'
    assert anchor_line(40, quote, "CWE-78", LINES, 1, 8) == 8


def test_nothing_fits_gives_the_models_line_or_none() -> None:
    assert anchor_line(2, "", "CWE-20", LINES, 1, 8) == 2
    assert anchor_line(99, "", "CWE-20", LINES, 1, 8) is None


def test_only_lines_inside_the_analysed_chunk_are_candidates() -> None:
    assert anchor_line(3, "", "CWE-78", LINES, 1, 6) == 3

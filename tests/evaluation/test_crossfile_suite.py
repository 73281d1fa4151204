"""The cross-file suite: real package lines that use names from sibling files."""

from __future__ import annotations

import re

from codetune_lsp.evaluation.scoring import line_match
from codetune_lsp.evaluation.suites import load_suite
from codetune_lsp.evaluation.suites.crossfile import (
    PACKAGES,
    api_candidates,
    candidates,
    document_for,
)

SOURCE = '''from .helpers import normalise_path, Registry
from os import sep


def load(path):
    """Load a thing."""
    clean = normalise_path(path)
    parts = clean.split(sep)
    if Registry.known(clean):
        return Registry.get(clean)
    return parts
'''


def test_candidates_are_one_line_statements_using_sibling_names() -> None:
    found = candidates(SOURCE, "pkg", {"normalise_path", "Registry"})
    assert [(line, target, name) for line, target, name in found] == [
        (6, "clean = normalise_path(path)", "normalise_path"),
        (9, "return Registry.get(clean)", "Registry"),
    ]  # not `sep` (another package), not the `if` header, not the docstring


def test_the_suite_is_the_same_each_time_and_interleaves_packages() -> None:
    first, again = load_suite("crossfile", "context"), load_suite("crossfile", "no-context")
    assert [i.id for i in first.items] == [i.id for i in again.items]
    assert len(first.items) == 24 * len(PACKAGES) and first.meta["missing"] == []
    assert {i.data["package"] for i in first.items[: len(PACKAGES)]} == set(PACKAGES)


def test_an_item_holds_its_line_out_and_keeps_the_indent() -> None:
    item = load_suite("crossfile", "context").items[0]
    root, path, text, offset = document_for(item)
    original = path.read_text().split("\n")
    line = original[item.data["line"]]
    assert line.strip() == item.data["target"]
    assert text[:offset].endswith("\n" + line[: len(line) - len(line.lstrip())])
    assert text[offset:].startswith("\n" + original[item.data["line"] + 1])
    assert item.data["name"] in item.data["target"]
    assert path.is_relative_to(root)


def test_the_first_line_is_scored_by_exact_match_and_edit_similarity() -> None:
    assert line_match("x = f(a)\n    y = 2", "x = f(a)") == (True, 1.0)
    matched, similarity = line_match("x = f(b)", "x = f(a)")
    assert not matched and 0.8 < similarity < 1.0
    assert line_match("", "x = f(a)") == (False, 0.0)


API_SOURCE = """from . import geometry
from .shapes import Polygon
import pkg.units as units


def area(points):
    shape = Polygon.from_points(points)
    total = geometry.shoelace(points)
    again = geometry.shoelace(points[::-1])
    return units.square_metres(total), shape.name
"""


def test_api_candidates_hold_out_an_imported_names_first_unseen_attribute() -> None:
    defined = {"Polygon", "from_points", "shoelace", "square_metres"}
    found = api_candidates(API_SOURCE, "pkg", defined)
    assert found == [
        (6, 20, "from_points(points)", "Polygon.from_points"),
        (7, 21, "shoelace(points)", "geometry.shoelace"),
        (9, 17, "square_metres(total), shape.name", "units.square_metres"),
    ]  # line 8 uses `shoelace` again: the file has shown it already


def test_an_api_item_cuts_its_line_after_the_dot() -> None:
    suite = load_suite("crossfile-api", "context")
    assert suite.name == "crossfile-api" and len(suite.items) >= 50
    for item in suite.items[:10]:
        _root, path, text, offset = document_for(item)
        line = path.read_text().split("\n")[item.data["line"]]
        assert text[:offset].endswith("\n" + line[: item.data["column"]])
        assert text[:offset].endswith(item.data["name"].split(".")[0] + ".")
        assert line[item.data["column"] :].rstrip() == item.data["target"]
        assert item.data["target"].startswith(item.data["name"].split(".")[1])
        before = path.read_text().split("\n")[: item.data["line"]]
        used = [b for b in before if not b.lstrip().startswith(("import ", "from "))]
        assert item.data["name"].split(".")[1] not in re.findall(r"\w+", "\n".join(used))

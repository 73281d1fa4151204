"""User suites: a team's own goldens for any template, in JSONL or TOML.

Each item gives the template's variables and assertions on what the engine served::

    # JSONL, one item a line
    {"id": "greets", "vars": {"code": "..."}, "assert": [{"type": "contains", "value": "def "}]}

    # TOML
    [[items]]
    id = "greets"
    vars = { code = "..." }
    assert = [{ type = "regex", value = "^def \\\\w+" }]

Assertion types: ``contains`` / ``not-contains`` (text), ``regex`` (Python re, searched),
``equals`` (whole text, surrounding whitespace ignored), ``json-schema`` (the JSON answer, or the
text parsed as JSON, against a schema), and ``python`` (test code run in the sandbox with the
answer as the string ``output``; it passes when it exits without error).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from codetune_lsp.evaluation.sandbox import Limits, run_python
from codetune_lsp.evaluation.suites import Item, Suite, SuiteError

ASSERTION_TYPES = ("contains", "not-contains", "regex", "equals", "json-schema", "python")


def load_user_suite(path: Path) -> Suite:
    """Read a .jsonl or .toml suite file; every problem names the file, item and field."""
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file")
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot be read: {exc}") from exc
    if path.suffix == ".jsonl":
        entries = []
        for number, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SuiteError(f"{path}:{number}: not JSON: {exc.msg}") from exc
    elif path.suffix == ".toml":
        try:
            entries = tomllib.loads(raw).get("items", [])
        except tomllib.TOMLDecodeError as exc:
            raise SuiteError(f"{path}: not TOML: {exc}") from exc
    else:
        raise SuiteError(f"{path}: a user suite is a .jsonl or .toml file")
    items = tuple(_item(path, index, entry) for index, entry in enumerate(entries, 1))
    if not items:
        raise SuiteError(f"{path}: the suite has no items")
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise SuiteError(f"{path}: item ids must be unique")
    return Suite(path.stem, "user", "engine", items, {"path": str(path)})


def _item(path: Path, index: int, entry: Any) -> Item:
    where = f"{path}: item {index}"
    if not isinstance(entry, Mapping):
        raise SuiteError(f"{where}: must be an object")
    variables = entry.get("vars", {})
    assertions = entry.get("assert", [])
    if not isinstance(variables, Mapping):
        raise SuiteError(f"{where}: `vars` must be a table of the template's variables")
    if not isinstance(assertions, list) or not assertions:
        raise SuiteError(f"{where}: `assert` must list at least one assertion")
    for check in assertions:
        kind = check.get("type") if isinstance(check, Mapping) else None
        if kind not in ASSERTION_TYPES:
            raise SuiteError(f"{where}: assertion type must be one of {', '.join(ASSERTION_TYPES)}")
        if "value" not in check:
            raise SuiteError(f"{where}: a {kind} assertion needs a `value`")
    item_id = str(entry.get("id") or f"item-{index}")
    return Item(item_id, {"vars": dict(variables), "assert": list(assertions)})


async def check_assertions(
    served: str, parsed: Any, assertions: Sequence[Mapping[str, Any]], limits: Limits
) -> tuple[bool, str]:
    """(all passed, the first failure's reason)."""
    for check in assertions:
        problem = await _check(served, parsed, check, limits)
        if problem:
            return False, f"{check['type']}: {problem}"
    return True, ""


async def _check(served: str, parsed: Any, check: Mapping[str, Any], limits: Limits) -> str:
    kind, value = check["type"], check["value"]
    if kind == "contains":
        return "" if str(value) in served else f"{value!r} is not in the answer"
    if kind == "not-contains":
        return f"{value!r} is in the answer" if str(value) in served else ""
    if kind == "equals":
        return "" if served.strip() == str(value).strip() else "the answer differs"
    if kind == "regex":
        try:
            found = re.search(str(value), served, re.MULTILINE)
        except re.error as exc:
            return f"bad pattern: {exc}"
        return "" if found else f"no match for {value!r}"
    if kind == "json-schema":
        return _schema_problem(served, parsed, value)
    program = f"output = {served!r}\n{value}\n"
    result = await run_python(program, limits)
    return "" if result.passed else result.reason or "the test failed"


def _schema_problem(served: str, parsed: Any, schema: Any) -> str:
    from codetune_lsp.models.structured import validation_errors

    if parsed is None:
        try:
            parsed = json.loads(served)
        except json.JSONDecodeError as exc:
            return f"the answer is not JSON: {exc.msg}"
    errors = validation_errors(parsed, schema)
    return "; ".join(errors[:3])

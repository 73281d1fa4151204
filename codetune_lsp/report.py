"""Findings as a linter prints them: text lines, JSON, or SARIF 2.1.0 for code scanning."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from codetune_lsp import __version__
from codetune_lsp.features.diagnostics import Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def as_text(results: Sequence[tuple[str, Finding]]) -> str:
    """``path:line:col: severity rule message``, one per line (column 1: whole lines)."""
    return "".join(
        f"{path}:{f.line}:1: {f.severity} {f.rule} {' '.join(f.message.split())}\n"
        for path, f in results
    )


def as_json(results: Sequence[tuple[str, Finding]], errors: Sequence[str] = ()) -> str:
    payload = {
        "findings": [{"path": path, **asdict(f)} for path, f in results],
        "errors": list(errors),
    }
    return json.dumps(payload, indent=2) + "\n"


def as_sarif(results: Sequence[tuple[str, Finding]], base: Path | None = None) -> str:
    """One run of codetune-lsp, with a rule per distinct rule id and a result per finding."""
    rules: dict[str, dict[str, Any]] = {}
    sarif_results = []
    for path, finding in results:
        rule_id = finding.rule or "codetune"
        if rule_id not in rules:
            rule: dict[str, Any] = {
                "id": rule_id,
                "shortDescription": {"text": rule_id},
                "properties": {"template": finding.template},
            }
            if rule_id.upper().startswith("CWE-") and rule_id[4:].isdigit():
                rule["helpUri"] = f"https://cwe.mitre.org/data/definitions/{rule_id[4:]}.html"
            rules[rule_id] = rule
        uri = Path(path).as_posix() if base is None else _relative(path, base)
        sarif_results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": list(rules).index(rule_id),
                "level": _LEVEL.get(finding.severity, "warning"),
                "message": {
                    "text": finding.message + (f" Fix: {finding.fix}" if finding.fix else "")
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri},
                            "region": {"startLine": finding.line, "endLine": finding.end_line},
                        }
                    }
                ],
            }
        )
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "codetune-lsp",
                        "version": __version__,
                        "rules": list(rules.values()),
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _relative(path: str, base: Path) -> str:
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_uri()

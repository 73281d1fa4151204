"""Evaluation suites: a named, hashed, ordered list of items.

Built in: ``humaneval`` (modes ``chat`` and ``completion``), ``humaneval-infill`` (single-
and multi-line holes), ``security`` (labelled vulnerable snippets with fixed twins;
``security-holdout`` is a second set written apart from the rules it measures; modes
``diagnostics`` (the template alone), ``rules``, ``combined`` and ``fix``, the quick fix on
each vulnerable case),
``actions`` (the docstring, tests and optimize code actions on 30 real functions) and
``crossfile`` (lines of real packages that use names from sibling files; modes ``context``
and ``no-context``; ``crossfile-api`` the rest of a line after an attribute the file has not
used yet, of a name imported from its own package).
Anything else is read as a user suite file (JSONL or TOML, see ``user.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codetune_lsp.store.canonical import canonical_hash

BUILTIN = (
    "humaneval",
    "humaneval-infill",
    "security",
    "security-holdout",
    "actions",
    "crossfile",
    "crossfile-api",
)
SECURITY_MODES = ("diagnostics", "rules", "combined", "fix")
MODES = {
    "humaneval": ("chat", "completion"),
    "humaneval-infill": ("infill",),
    "security": SECURITY_MODES,
    "security-holdout": SECURITY_MODES,
    "crossfile": ("context", "no-context"),
    "crossfile-api": ("context", "no-context"),
    "actions": ("docstring", "tests", "optimize"),
}


class SuiteError(ValueError):
    """A suite that cannot be loaded; the message says what to fix."""


@dataclass(frozen=True)
class Item:
    id: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Suite:
    name: str
    kind: str  # humaneval | infill | security | actions | crossfile | user
    mode: str
    items: tuple[Item, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def hash(self) -> str:
        """The content identity: two runs are comparable only on the same hash."""
        return canonical_hash(
            {
                "kind": self.kind,
                "mode": self.mode,
                "items": [[i.id, dict(i.data)] for i in self.items],
            }
        )

    def limited(self, limit: int | None) -> Suite:
        if not limit:
            return self
        return Suite(self.name, self.kind, self.mode, self.items[:limit], self.meta)


def load_suite(name: str, mode: str | None = None) -> Suite:
    """A built-in suite by name, or a user suite from a .jsonl / .toml path."""
    if name in BUILTIN:
        allowed = MODES[name]
        chosen = mode or allowed[0]
        if chosen not in allowed:
            raise SuiteError(f"suite {name} has modes {', '.join(allowed)}, not {chosen!r}")
        if name == "humaneval":
            from codetune_lsp.evaluation.suites.humaneval import humaneval_suite

            return humaneval_suite(chosen)
        if name in ("crossfile", "crossfile-api"):
            from codetune_lsp.evaluation.suites.crossfile import crossfile_suite

            return crossfile_suite(chosen, api=name == "crossfile-api")
        if name == "humaneval-infill":
            from codetune_lsp.evaluation.suites.infill import infill_suite

            return infill_suite()
        if name == "actions":
            from codetune_lsp.evaluation.suites.actions import actions_suite

            return actions_suite(chosen)
        from codetune_lsp.evaluation.suites.security import security_suite

        return security_suite(chosen, holdout=name == "security-holdout")
    path = Path(name)
    if path.suffix in (".jsonl", ".toml"):
        from codetune_lsp.evaluation.suites.user import load_user_suite

        return load_user_suite(path)
    raise SuiteError(
        f"unknown suite {name!r}: use one of {', '.join(BUILTIN)} or a .jsonl/.toml file"
    )

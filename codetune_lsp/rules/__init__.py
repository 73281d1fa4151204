"""Rule-based security candidates for the AI diagnostics.

The small code models cannot judge whether a line is a weakness (docs/decisions.md,
"Security findings come from rules"), so for the languages a rule set covers, the findings
come from static rules: bandit's checks (PyCQA's Python SAST) and this package's own flow
rules for the classes bandit lacks. The model's part is the quick fix: "AI: Fix this
problem" on a finding. Every hit names its CWE as the rule and the check that found it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Rule set name -> the languages (LSP language ids) it covers.
RULE_SETS: dict[str, tuple[str, ...]] = {"python-security": ("python",)}


@dataclass(frozen=True)
class RuleHit:
    """One candidate weakness on 1-based document lines."""

    line: int
    end_line: int
    rule: str  # CWE id, e.g. "CWE-89"
    severity: str  # "error" | "warning" | "info"
    message: str
    check: str  # what found it, e.g. "bandit B608" or "codetune path-traversal"


class RulesUnavailable(RuntimeError):
    """A rule set's tool is not installed."""


def covers(rule_sets: list[str] | tuple[str, ...], language: str) -> bool:
    """Whether any of ``rule_sets`` analyses documents of ``language``."""
    return any(language in RULE_SETS.get(name, ()) for name in rule_sets)


def scan(text: str, language: str, rule_sets: list[str] | tuple[str, ...]) -> list[RuleHit]:
    """The hits of every rule set in ``rule_sets`` that covers ``language``, by line.

    Text that does not parse yields no hits (a document is often mid-edit).
    """
    hits: list[RuleHit] = []
    if "python-security" in rule_sets and language == "python":
        from codetune_lsp.rules.python_security import scan_python

        hits += scan_python(text)
    unique = {(h.line, h.rule): h for h in sorted(hits, key=_preference)}
    return sorted(unique.values(), key=lambda h: (h.line, h.rule))


def _preference(hit: RuleHit) -> tuple[int, int]:
    """Later wins in the de-duplication: bandit's hit over a flow rule's, errors last."""
    order = {"info": 0, "warning": 1, "error": 2}
    return (hit.check.startswith("bandit"), order.get(hit.severity, 1))

"""Setting up one evaluation run from the CLI: suite, target and runner on an open store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codetune_lsp.evaluation.runner import Progress, Runner
from codetune_lsp.evaluation.sandbox import Limits
from codetune_lsp.evaluation.suites import Suite, SuiteError, load_suite
from codetune_lsp.evaluation.targets import ProductTarget

# The feature each built-in suite exercises, and the template it uses by default.
DEFAULT_TEMPLATES = {
    ("humaneval", "chat"): "code_action.implement",
    ("humaneval", "completion"): "completion.infill",
    ("humaneval-infill", "infill"): "completion.infill",
    **{
        (suite, mode): "diagnostics.security"
        for suite in ("security", "security-holdout")
        for mode in ("diagnostics", "rules", "combined")
    },
    ("security", "fix"): "code_action.fix_diagnostic",
    ("security-holdout", "fix"): "code_action.fix_diagnostic",
    **{
        (suite, mode): "completion.infill"
        for suite in ("crossfile", "crossfile-api")
        for mode in ("context", "no-context")
    },
    ("actions", "docstring"): "code_action.docstring",
    ("actions", "tests"): "code_action.tests",
    ("actions", "optimize"): "code_action.optimize",
}
FEATURE_OF_KIND = {
    "humaneval": None,
    "infill": "completion",
    "security": "diagnostics",
    "crossfile": "completion",
    "actions": "code_action",
}


@dataclass(frozen=True)
class Plan:
    suite: Suite
    template_ref: str
    model: str


def plan(
    settings: Any,
    suite_name: str,
    template_ref: str | None,
    model: str | None,
    mode: str | None = None,
    limit: int | None = None,
) -> Plan:
    suite = load_suite(suite_name, mode).limited(limit)
    ref = template_ref or DEFAULT_TEMPLATES.get((suite.name, suite.mode))
    if not ref:
        raise SuiteError(f"suite {suite.name} needs --template NAME[:LABEL|:VERSION]")
    name = ref.replace("@", ":").split(":", 1)[0]
    feature = name.split(".", 1)[0]
    expected = {
        "chat": "code_action",
        "completion": "completion",
        "infill": "completion",
        "fix": "code_action",
    }.get(suite.mode, {"security": "diagnostics", "actions": "code_action"}.get(suite.kind))
    if expected and feature != expected:
        raise SuiteError(
            f"suite {suite.name} (mode {suite.mode}) runs a {expected} template, not {name}"
        )
    features = settings.features
    chosen = model or {
        "code_action": features.code_actions.model,
        "completion": features.completion.model,
        "diagnostics": features.diagnostics.model,
    }.get(feature, features.code_actions.model)
    return Plan(suite, ref, chosen)


def make_runner(
    settings: Any,
    store: Any,
    library: Any,
    chosen: Plan,
    *,
    jobs: int = 1,
    samples: int = 1,
    temperature: float | None = None,
    progress: Progress | None = None,
    backend_factory: Any = None,
    limits: Limits | None = None,
) -> Runner:
    target = ProductTarget(
        settings,
        store,
        library,
        chosen.template_ref,
        chosen.model,
        temperature=temperature,
        backend_factory=backend_factory,
    )
    target.resolve()
    return Runner(
        store, chosen.suite, target, jobs=jobs, samples=samples, limits=limits, progress=progress
    )

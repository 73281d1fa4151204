"""The ``python-security`` rule set: bandit's checks plus the flow rules, on one file."""

from __future__ import annotations

import ast
from dataclasses import replace

from codetune_lsp.rules import RuleHit
from codetune_lsp.rules.bandit_pass import INJECTION_TESTS, bandit_results, to_hit
from codetune_lsp.rules.python_flow import FunctionFlow, flow_hits, function_flows


def scan_python(text: str) -> list[RuleHit]:
    """Candidate weaknesses in Python source; none when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    flows = function_flows(tree)
    hits = flow_hits(tree, flows)
    validated_calls = _validated_call_lines(flows)
    for issue in bandit_results(text):
        hit = to_hit(issue)
        if hit is None:
            continue
        if str(issue.test_id) in INJECTION_TESTS and hit.line in validated_calls:
            continue
        if str(issue.test_id) == "B608":
            if _constant_fstring_at(tree, hit.line):
                continue  # f"... = ?" builds nothing: bandit reads any f-string as built SQL
            hit = _through_to_execution(tree, hit)
        hits.append(hit)
    return hits


def _constant_fstring_at(tree: ast.Module, line: int) -> bool:
    """Whether the string on ``line`` is an f-string with nothing interpolated."""
    strings = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr | ast.BinOp | ast.Call)
        and node.lineno <= line <= (node.end_lineno or node.lineno)
        and any(isinstance(part, ast.JoinedStr) for part in ast.walk(node))
    ]
    fstrings = [
        part for node in strings for part in ast.walk(node) if isinstance(part, ast.JoinedStr)
    ]
    return (
        bool(fstrings)
        and all(
            not any(isinstance(value, ast.FormattedValue) for value in part.values)
            for part in fstrings
        )
        and not any(isinstance(node, ast.BinOp) for node in strings)
    )


def _through_to_execution(tree: ast.Module, hit: RuleHit) -> RuleHit:
    """A query built into a variable is reported from where it is built to the call that
    runs it (bandit points at the string alone)."""
    built = next(
        (
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.lineno <= hit.line <= (node.end_lineno or node.lineno)
        ),
        None,
    )
    if built is None:
        return hit
    name = built.targets[0].id  # type: ignore[union-attr]
    uses = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and node.lineno > (built.end_lineno or built.lineno)
        and any(
            isinstance(part, ast.Name) and part.id == name
            for argument in [*node.args, *(k.value for k in node.keywords)]
            for part in ast.walk(argument)
        )
    ]
    if not uses:
        return hit
    first = min(uses, key=lambda node: node.lineno)
    return replace(hit, end_line=max(hit.end_line, first.end_lineno or first.lineno))


def _validated_call_lines(
    flows: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, FunctionFlow]],
) -> set[int]:
    """Lines of calls whose every input is trusted and at least one was validated.

    bandit reports ``"... ORDER BY " + column`` whether or not ``column`` was checked
    against an allowlist first; this is where its injection findings are rechecked.
    """
    lines: set[int] = set()
    for function, flow in flows:
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            inputs = [*node.args, *(k.value for k in node.keywords)]
            names = {n.id for part in inputs for n in ast.walk(part) if isinstance(n, ast.Name)}
            if (
                names & flow.validated
                and not any(flow.is_untrusted(part) for part in inputs)
                and not any(flow.reads_request(part) and flow.is_untrusted(part) for part in inputs)
            ):
                lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines

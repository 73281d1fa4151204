"""AI diagnostics: analyse a document with the diagnostics templates and return findings.

The ``Analyzer`` needs only an engine, so the language server and ``codetune-lsp check``
share it. Long files are split at top-level definitions to fit the window, and the chunks
run together (the local backend batches them). Line numbers come back from the model as it
saw them (document lines) and are checked against the chunk. Findings outside it are
dropped and counted, and duplicates are merged. Results are kept by content hash and
template versions, so re-analysing unchanged text costs no model call.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import posixpath
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

logger = logging.getLogger(__name__)

SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2}
RESERVED_TOKENS = 16
_MEMO_SIZE = 256


@dataclass(frozen=True)
class Finding:
    """One problem, on 1-based document lines."""

    line: int
    end_line: int
    severity: str
    rule: str
    message: str
    template: str
    fix: str = ""
    execution_id: str = ""


@dataclass
class Analysis:
    findings: list[Finding]
    dropped: int = 0
    executions: list[str] = field(default_factory=list)
    cached: bool = False
    key: str = ""


def _findings_from(
    value: Any,
    first: int,
    last: int,
    template: str,
    execution_id: str,
    lines: list[str] | None = None,
) -> tuple[list[Finding], int]:
    """Findings inside document lines [first, last] (1-based); the rest are counted.

    With the document's ``lines``, each finding is anchored to the line it quotes or to the
    call its CWE is about (see ``prompts.findings``).
    """
    from codetune_lsp.prompts.findings import anchor_line

    found, dropped = [], 0
    for item in (value or {}).get("findings", []):
        line, end_line = item.get("line"), item.get("end_line", item.get("line"))
        if lines is not None:
            anchored = anchor_line(
                line, str(item.get("code", "")), str(item.get("rule", "")), lines, first, last
            )
            if anchored is not None and anchored != line:
                line = end_line = anchored
        if not isinstance(line, int) or not first <= line <= last:
            dropped += 1
            continue
        if not isinstance(end_line, int) or end_line < line:
            end_line = line
        found.append(
            Finding(
                line=line,
                end_line=min(end_line, last),
                severity=item.get("severity", "warning"),
                rule=str(item.get("rule", "codetune"))[:40],
                message=str(item.get("message", "")).strip() or "problem found",
                template=template,
                fix=str(item.get("fix", "")),
                execution_id=execution_id,
            )
        )
    return found, dropped


def dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[int, int, str, str]] = set()
    unique = []
    for finding in sorted(findings, key=lambda f: (f.line, -SEVERITY_ORDER.get(f.severity, 0))):
        key = (
            finding.line,
            finding.end_line,
            finding.rule.lower(),
            " ".join(finding.message.lower().split()),
        )
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


class Analyzer:
    """Runs the diagnostics templates over text through the engine."""

    def __init__(
        self, engine: Any, model: str, templates: list[str], label: str = "production"
    ) -> None:
        self.engine = engine
        self.model = model
        self.templates = templates
        self.label = label
        self._memo: OrderedDict[str, Analysis] = OrderedDict()

    async def analyse(self, snap: Any, unit_key: str = "") -> Analysis:
        from codetune_lsp.engine import EngineRequest, OutputInvalid
        from codetune_lsp.prompts.chunks import chunk_document

        resolved = []
        for name in self.templates:
            probe = EngineRequest(
                feature="diagnostics",
                template=name,
                model=self.model,
                label=self.label,
                variables={},
                document=snap,
                unit_key=unit_key,
            )
            resolved.append((probe, await self.engine.resolve(probe)))
        digest = hashlib.sha256(snap.text.encode()).hexdigest()
        key = digest + ":" + ",".join(str(r.version_id) for _, r in resolved)
        if key in self._memo:
            self._memo.move_to_end(key)
            memo = self._memo[key]
            return Analysis(memo.findings, memo.dropped, memo.executions, True, key)
        count = self.engine.token_counter(self.model)
        window = self.engine.context_length(self.model)
        jobs = []
        for probe, version in resolved:
            template = version.template
            overhead = sum(count([template.system, template.template]))
            budget = window - template.params.max_new_tokens - overhead - RESERVED_TOKENS
            for chunk in chunk_document(snap.text, max(budget, 64), count):
                variables = {
                    "numbered_code": chunk.numbered(),
                    "language": snap.language_id,
                    "file_name": posixpath.basename(snap.uri),
                }
                request = replace(probe, variables=variables)
                jobs.append((chunk, template.name, self.engine.run(request, version)))
        outcomes = await asyncio.gather(*(job for _, _, job in jobs), return_exceptions=True)
        findings: list[Finding] = []
        dropped = 0
        executions = []
        lines = snap.text.splitlines()
        for (chunk, name, _), outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, OutputInvalid):
                dropped += 1
                logger.info("diagnostics output rejected: %s", outcome)
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            executions.append(outcome.execution_id)
            found, lost = _findings_from(
                outcome.json,
                chunk.first_line + 1,
                chunk.last_line + 1,
                name,
                outcome.execution_id,
                lines,
            )
            findings += found
            dropped += lost
        analysis = Analysis(dedupe(findings), dropped, executions, False, key)
        self._memo[key] = analysis
        while len(self._memo) > _MEMO_SIZE:
            self._memo.popitem(last=False)
        return analysis

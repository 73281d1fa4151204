"""AI diagnostics: analyse a document with the diagnostics templates and return findings.

The ``Analyzer`` needs only an engine, so the language server and ``codetune-lsp check``
share it. Long files are split at top-level definitions to fit the window, and the chunks
run together (the local backend batches them). Line numbers come back from the model as it
saw them (document lines) and are checked against the chunk. Findings outside it are
dropped and counted, and duplicates are merged. Results are kept by content hash and
template versions, so re-analysing unchanged text costs no model call.

Rule sets (``codetune_lsp.rules``) run beside the templates on the languages they cover:
their findings come from static checks, not the model, and carry ``rules:<check>`` as
their template.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import posixpath
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2}
_MEMO_SIZE = 256
MAX_FILE_CHARS = 500_000
MAX_CHUNKS = 32


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
    note: str = ""  # why the document was not, or only partly, analysed


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
        if lines is not None and item.get("code"):  # templates that quote lines are anchored
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
        self,
        engine: Any,
        model: str,
        templates: list[str],
        label: str = "production",
        *,
        max_chars: int = MAX_FILE_CHARS,
        max_chunks: int = MAX_CHUNKS,
        rules: Sequence[str] = (),
    ) -> None:
        self.engine = engine
        self.model = model
        self.templates = templates
        self.label = label
        self.max_chars = max_chars
        self.max_chunks = max_chunks
        self.rules = tuple(rules)
        self._memo: OrderedDict[str, Analysis] = OrderedDict()

    async def analyse(self, snap: Any, unit_key: str = "") -> Analysis:
        from codetune_lsp.engine import EngineRequest, NumberedChunks

        name_of = posixpath.basename(snap.uri)
        if len(snap.text) > self.max_chars:
            note = (
                f"{name_of} is not analysed: {len(snap.text):,} characters is more than "
                f"features.diagnostics.max_file_chars ({self.max_chars:,})"
            )
            return Analysis([], note=note)
        common = {"language": snap.language_id, "file_name": name_of}
        chunking = NumberedChunks(snap.text, self.max_chunks)
        requests = [
            EngineRequest(
                feature="diagnostics",
                template=name,
                model=self.model,
                label=self.label,
                variables=common,
                document=snap,
                unit_key=unit_key,
                fit=chunking,
            )
            for name in self.templates
        ]
        versions = [await self.engine.resolve(request) for request in requests]
        digest = hashlib.sha256(snap.text.encode()).hexdigest()
        key = digest + ":" + ",".join(str(v.version_id) for v in versions)
        key += ":" + ",".join(self.rules)
        if key in self._memo:
            self._memo.move_to_end(key)
            memo = self._memo[key]
            return Analysis(memo.findings, memo.dropped, memo.executions, True, key, memo.note)
        runs = (self.engine.run_pieces(r, v) for r, v in zip(requests, versions, strict=True))
        outcomes, (ruled, rules_note) = await asyncio.gather(
            asyncio.gather(*runs), self._rule_findings(snap)
        )
        flat = [o for per_template in outcomes for o in per_template]
        analysis = self._collect(flat, key, snap.text.splitlines())
        analysis.findings = dedupe(analysis.findings + ruled)
        analysis.note = rules_note
        if chunking.skipped:
            analysis.note = (
                f"{name_of}: only the first {self.max_chunks} of "
                f"{self.max_chunks + chunking.skipped[-1]} parts are analysed "
                "(features.diagnostics.max_chunks)"
            )
        self._memo[key] = analysis
        while len(self._memo) > _MEMO_SIZE:
            self._memo.popitem(last=False)
        return analysis

    async def _rule_findings(self, snap: Any) -> tuple[list[Finding], str]:
        """The rule sets' findings on the document (off the event loop), and a note if their
        tool is missing."""
        from codetune_lsp.rules import RulesUnavailable, covers, scan

        if not covers(self.rules, snap.language_id):
            return [], ""
        try:
            hits = await asyncio.to_thread(scan, snap.text, snap.language_id, self.rules)
        except RulesUnavailable as exc:
            return [], str(exc)
        findings = [
            Finding(
                line=hit.line,
                end_line=hit.end_line,
                severity=hit.severity,
                rule=hit.rule,
                message=hit.message,
                template=f"rules:{hit.check}",
            )
            for hit in hits
        ]
        return findings, ""

    @staticmethod
    def _collect(outcomes: list[Any], key: str, lines: list[str]) -> Analysis:
        """Findings from each chunk's answer; invalid answers are counted, failures raised."""
        from codetune_lsp.engine import OutputInvalid

        findings: list[Finding] = []
        dropped = 0
        executions = []
        for outcome in outcomes:
            if isinstance(outcome, OutputInvalid):
                dropped += 1
                logger.info("diagnostics output rejected: %s", outcome)
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            executions.append(outcome.execution_id)
            first, last = outcome.lines
            found, lost = _findings_from(
                outcome.json,
                first + 1,
                last + 1,
                outcome.template.name,
                outcome.execution_id,
                lines,
            )
            findings += found
            dropped += lost
        return Analysis(dedupe(findings), dropped, executions, False, key)

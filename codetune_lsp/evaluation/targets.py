"""The one adapter between evaluation and the product: every coupling to the engine, the
features and the model backends is in this module.

An item goes through what an editor user gets: the completion feature's ``suggest`` for
``humaneval --mode completion`` and the infill suite (snapshot, context fitting, the FIM
template, post-processing), the ``code_action.implement`` action for ``--mode chat`` (the
answer's code applied as the editor's edit), the diagnostics ``Analyzer`` that
``codetune-lsp check`` uses for the security suite, and the engine itself for user suites.
The only differences from a live server: the template version is pinned (no label, no
experiment arm), the completion timeout is the evaluation's, and there is no client.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codetune_lsp.evaluation.suites import Item

if TYPE_CHECKING:
    from codetune_lsp.features.cross_file import CrossFileFeature
    from codetune_lsp.features.host import HeadlessHost

logger = logging.getLogger(__name__)

EVAL_LABEL = "eval"
COMPLETION_TIMEOUT_MS = 600_000


# The weakness each security class names, for a quick fix where no rule reported it.
CWE_NAMES = {
    "CWE-22": "path traversal",
    "CWE-78": "OS command injection",
    "CWE-89": "SQL injection",
    "CWE-94": "code injection",
    "CWE-327": "broken or risky cryptographic algorithm",
    "CWE-328": "weak hash",
    "CWE-330": "insufficiently random values",
    "CWE-502": "deserialization of untrusted data",
    "CWE-611": "XML external entity reference",
    "CWE-798": "hard-coded credentials",
    "CWE-918": "server-side request forgery",
}


@dataclass(frozen=True)
class Produced:
    """What the product gave for one item: the model's raw text, what it served."""

    raw: str
    served: str
    latency_ms: float
    findings: list[dict[str, Any]] = field(default_factory=list)
    json: Any = None
    error: str = ""


@dataclass(frozen=True)
class TargetInfo:
    template_name: str
    template_version_id: int | None
    template_version: int | None
    model_profile: str
    model_id: str
    model_revision: str | None
    quantization: str | None


class _PinnedLibrary:
    """The prompt library with one template pinned to one version (labels and experiment
    arms ignored for it); every other template resolves as usual."""

    def __init__(self, library: Any, resolved: Any) -> None:
        self._library = library
        self._pinned = resolved

    async def resolve(self, name: str, label: str, unit_key: str) -> Any:
        if name == self._pinned.template.name:
            return self._pinned
        return await self._library.resolve(name, label, unit_key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._library, name)


def _recording_engine_class() -> type:
    from codetune_lsp.engine import Engine

    class RecordingEngine(Engine):
        """The product's engine, remembering each document's raw model text."""

        raw: dict[str, list[str]]

        async def run(self, request: Any, resolved: Any = None) -> Any:
            result = await super().run(request, resolved)
            key = request.document.uri if request.document is not None else ""
            self.raw.setdefault(key, []).append(result.raw_text)
            return result

    return RecordingEngine


def parse_template_ref(ref: str) -> tuple[str, int | None, str | None]:
    """``NAME``, ``NAME:LABEL`` or ``NAME:VERSION`` (also ``NAME@VERSION``)."""
    name, sep, rest = ref.replace("@", ":", 1).partition(":")
    if not sep or not rest:
        return name, None, None
    if rest.lstrip("v").isdigit():
        return name, int(rest.lstrip("v")), None
    return name, None, rest


class ProductTarget:
    """Runs suite items through the product for one template version and model profile."""

    def __init__(
        self,
        settings: Any,
        store: Any,
        library: Any,
        template_ref: str,
        model: str,
        *,
        temperature: float | None = None,
        backend_factory: Any = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.library = library
        self.template_ref = template_ref
        self.model = model
        self.temperature = temperature
        self._factory = backend_factory
        self.resolved: Any = None
        self._host: HeadlessHost | None = None
        self._indexes: dict[Path, CrossFileFeature] = {}  # workspace root -> its index
        self._engine: Any = None

    def resolve(self) -> Any:
        """The pinned version (blocking: a store read)."""
        name, version, label = parse_template_ref(self.template_ref)
        found = self.library.get(name, version=version, label=label)
        if self.temperature is not None:
            params = replace(found.template.params, temperature=self.temperature)
            found = replace(found, template=replace(found.template, params=params))
        self.resolved = found
        return found

    @property
    def feature(self) -> str:
        return self.resolved.template.feature

    @property
    def params(self) -> dict[str, Any]:
        p = self.resolved.template.params
        return {
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_new_tokens": p.max_new_tokens,
            "stop": list(p.stop),
        }

    async def start(self) -> TargetInfo:
        from codetune_lsp.features.host import HeadlessHost
        from codetune_lsp.models.registry import create_backend
        from codetune_lsp.paths import resolve_paths
        from codetune_lsp.services import Services

        resolved = self.resolved or self.resolve()
        if self.model not in self.settings.models:
            known = ", ".join(sorted(self.settings.models)) or "none"
            raise ValueError(f"no model profile named {self.model!r} (configured: {known})")
        features = self.settings.features
        completion = replace(
            features.completion,
            enabled=True,
            model=self.model,
            template=resolved.template.name
            if resolved.template.feature == "completion"
            else features.completion.template,
            label=EVAL_LABEL,
            timeout_ms=max(features.completion.timeout_ms, COMPLETION_TIMEOUT_MS),
        )
        settings = replace(
            self.settings,
            features=replace(
                features,
                completion=completion,
                code_actions=replace(features.code_actions, model=self.model, label=EVAL_LABEL),
                diagnostics=replace(features.diagnostics, model=self.model, label=EVAL_LABEL),
            ),
        )
        engine_class = _recording_engine_class()
        engine = engine_class(
            settings,
            self.store,
            _PinnedLibrary(self.library, resolved),
            self._factory or create_backend,
        )
        engine.raw = {}
        self._engine = engine
        services = Services(self.store, self.library, engine)
        self._host = HeadlessHost(settings, services, resolve_paths())
        backend = await self._host.models.ready(self.model)
        profile = backend.profile
        return TargetInfo(
            template_name=resolved.template.name,
            template_version_id=resolved.version_id,
            template_version=resolved.version,
            model_profile=self.model,
            model_id=profile.id or self.model,
            model_revision=profile.revision or None,
            quantization=profile.quantization if profile.quantization != "none" else None,
        )

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.aclose()

    # -- the feature paths ----------------------------------------------------------------

    def _raw(self, uri: str) -> str:
        assert self._engine is not None
        return "\n".join(self._engine.raw.pop(uri, []))

    async def complete(
        self, uri: str, text: str, offset: int, cross_file: CrossFileFeature | None = None
    ) -> Produced:
        """The completion feature at ``offset``, as an explicit editor request."""
        from codetune_lsp.documents import UTF16, DocumentSnapshot
        from codetune_lsp.features.completion import CompletionFeature

        assert self._host is not None
        snap = DocumentSnapshot(uri, 1, "python", text, UTF16)
        started = time.perf_counter()
        feature = CompletionFeature(self._host, cross_file)
        suggestion = await feature.suggest(snap, offset, explicit=True)
        latency = (time.perf_counter() - started) * 1000
        served = suggestion.text if suggestion is not None else ""
        return Produced(self._raw(uri), served, latency)

    async def complete_in_workspace(
        self, root: Path, path: Path, text: str, offset: int, with_context: bool
    ) -> Produced:
        """The completion feature on ``path`` with ``root`` as a trusted workspace, with
        cross-file context or without. Each root's index is built once, on first use."""
        return await self.complete(
            path.as_uri(), text, offset, await self._index_for(root) if with_context else None
        )

    async def _index_for(self, root: Path) -> CrossFileFeature:
        import asyncio

        from codetune_lsp.features.cross_file import CrossFileFeature
        from codetune_lsp.features.host import HeadlessHost
        from codetune_lsp.workspace import WorkspaceRoots

        assert self._host is not None
        feature = self._indexes.get(root)
        if feature is None:
            workspace = replace(self._host.settings.workspace, trusted=[str(root)])
            host = HeadlessHost(
                replace(self._host.settings, workspace=workspace), None, self._host.paths
            )
            host.roots = WorkspaceRoots([root.as_uri()])
            feature = self._indexes[root] = CrossFileFeature(host)
            feature.refresh_roots()
            await asyncio.to_thread(feature.context.ready.wait)
        return feature

    async def implement(self, uri: str, text: str) -> Produced:
        """The ``code_action.implement`` action on the whole document; the result is the
        document after the editor applies the action's edit."""
        return await self.code_action(uri, text, None)

    async def code_action(self, uri: str, text: str, line: int | None) -> Produced:
        """The pinned code action with the cursor on ``line`` (None: the whole document
        selected). ``served`` is the document after the editor applies the edit, or for a
        new-file action (tests) the new file's text."""
        from codetune_lsp.features.code_actions import CodeActionFeature

        assert self._host is not None
        self._host.documents.open(uri, "python", 1, text)
        snap = self._host.documents.snapshot(uri)
        if line is None:
            selection = (0, len(snap.text))
        else:
            offset = sum(len(row) + 1 for row in snap.text.split("\n")[:line])
            selection = (offset, offset)
        started = time.perf_counter()
        try:
            outcome = await CodeActionFeature(self._host).run(
                snap, self.resolved.template.name, selection
            )
        finally:
            self._host.documents.close(uri)
        latency = (time.perf_counter() - started) * 1000
        raw = self._raw(uri)
        if outcome.edit is None:
            empty = "" if self.resolved.template.output == "new_file" else text
            return Produced(raw, empty, latency, error=outcome.message or "no edit")
        if self.resolved.template.output == "new_file":
            created = "".join(change.new_text for change in outcome.edit.changes)
            return Produced(raw, created.lstrip("\r\n"), latency)
        return Produced(raw, outcome.edit.apply(text), latency)

    async def diagnose(self, uri: str, text: str, mode: str = "diagnostics") -> Produced:
        """The diagnostics Analyzer (as ``codetune-lsp check`` runs it) on ``text``: the
        template alone (mode ``diagnostics``), the configured rule sets alone (``rules``),
        or both (``combined``)."""
        from codetune_lsp.documents import UTF32, DocumentSnapshot
        from codetune_lsp.features.diagnostics import Analyzer

        snap = DocumentSnapshot(uri, 0, "python", text, UTF32)
        templates = [] if mode == "rules" else [self.resolved.template.name]
        rules = self.settings.features.diagnostics.rules if mode != "diagnostics" else []
        analyzer = Analyzer(self._engine, self.model, templates, EVAL_LABEL, rules=rules)
        started = time.perf_counter()
        analysis = await analyzer.analyse(snap, f"eval|{uri}")
        latency = (time.perf_counter() - started) * 1000
        findings = [
            {"line": f.line, "end_line": f.end_line, "rule": f.rule, "message": f.message}
            for f in analysis.findings
        ]
        return Produced(self._raw(uri), "", latency, findings=findings)

    async def fix(self, uri: str, text: str, cwe: str, span: list[int]) -> Produced:
        """The quick fix on a vulnerable case, for the diagnostic a user would see there:
        the rule sets' finding of that class on the marked lines, or, where they report
        none, the class's name. ``served`` is the document after the edit."""
        from codetune_lsp.evaluation.scoring import cwe_class
        from codetune_lsp.features.code_actions import CodeActionFeature, Flagged
        from codetune_lsp.rules import scan

        assert self._host is not None
        wanted = cwe_class(cwe)
        hits = [
            h
            for h in scan(text, "python", ["python-security"])
            if cwe_class(h.rule) == wanted and span[0] <= h.line <= span[1]
        ]
        line = hits[0].line if hits else span[0]
        message = f"{hits[0].rule}: {hits[0].message}" if hits else f"{cwe}: {CWE_NAMES[cwe]}"
        self._host.documents.open(uri, "python", 1, text)
        snap = self._host.documents.snapshot(uri)
        start = sum(len(row) + 1 for row in text.split("\n")[: line - 1])
        end = start + len(text.split("\n")[line - 1])
        started = time.perf_counter()
        try:
            outcome = await CodeActionFeature(self._host).run(
                snap,
                self.resolved.template.name,
                (start, end),
                Flagged(message, "codetune", line - 1),
            )
        finally:
            self._host.documents.close(uri)
        latency = (time.perf_counter() - started) * 1000
        raw = self._raw(uri)
        if outcome.edit is None:
            return Produced(raw, text, latency, error=outcome.message or "no edit")
        return Produced(raw, outcome.edit.apply(text), latency)

    async def render_and_run(self, uri: str, variables: dict[str, Any]) -> Produced:
        """The engine on the template with the item's variables (user suites)."""
        from codetune_lsp.documents import UTF16, DocumentSnapshot
        from codetune_lsp.engine import EngineRequest

        snap = DocumentSnapshot(uri, 0, "plaintext", "", UTF16)
        request = EngineRequest(
            feature=self.feature,
            template=self.resolved.template.name,
            model=self.model,
            variables=variables,
            label=EVAL_LABEL,
            document=snap,
        )
        started = time.perf_counter()
        result = await self._engine.run(request)
        latency = (time.perf_counter() - started) * 1000
        self._raw(uri)
        return Produced(result.text, result.text, latency, json=result.json)


def item_uri(item: Item, sample: int) -> str:
    """A document uri of its own per item and sample (no type-ahead across items)."""
    safe = "".join(c if c.isalnum() else "_" for c in item.id)
    return f"file:///codetune-eval/{safe}/s{sample}/main.py"

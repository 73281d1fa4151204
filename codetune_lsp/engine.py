"""The one dispatch path every feature takes to a model.

resolve the template version (label or experiment arm) → render → response cache →
backend → validate the output → record the execution → a typed result carrying its
execution id. Nothing else talks to a backend or writes an execution.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.models.base import (
    Backend,
    BackendError,
    CancelToken,
    ChatMessage,
    GenerationRequest,
    GenerationResult,
)
from codetune_lsp.prompts.library import PromptLibrary, Resolved
from codetune_lsp.prompts.render import RenderError, render
from codetune_lsp.prompts.template import PromptTemplate
from codetune_lsp.settings import ModelProfile, Settings

logger = logging.getLogger(__name__)

BackendFactory = Callable[[str, ModelProfile], Backend]
TokenCounter = Callable[[Sequence[str]], list[int]]
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}
# Responses remembered in this process in front of the store's cache (hits served on the
# event loop, no thread hop). Keys include the template version, so a new version misses.
MEMORY_CACHE_ENTRIES = 256
# Where features share a local model: completions first (someone waits at the cursor),
# then code actions, then background diagnostics.
FEATURE_PRIORITY = {"completion": 0, "code_action": 1, "diagnostics": 2}
# Rough size of a token when no tokenizer is at hand (remote models): err on the long side.
CHARS_PER_TOKEN_ESTIMATE = 3.0


class EngineError(Exception):
    """A failure the user should read: what went wrong and how to fix it."""

    def __init__(self, message: str, *, kind: str = "engine") -> None:
        super().__init__(message)
        self.kind = kind


class OutputInvalid(EngineError):
    """The model answered, but not in the form the template requires."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="output")


@dataclass(frozen=True)
class EngineRequest:
    feature: str
    template: str
    model: str  # model profile name
    variables: Mapping[str, Any]
    label: str = "production"
    document: DocumentSnapshot | None = None
    unit_key: str = ""  # sticky experiment assignment (workspace and document)
    cancel: CancelToken | None = field(default=None, compare=False)
    max_new_tokens: int | None = None  # a feature's setting may lower the template's


@dataclass(frozen=True)
class EngineResult:
    execution_id: str
    text: str
    json: Any
    finish_reason: str
    cache_hit: bool
    template: PromptTemplate
    version_id: int
    version: int
    arm: str | None
    model_id: str
    latency_ms: float
    recorded: Any = field(default=None, compare=False, repr=False)  # awaitable: committed id


def check_variables(template: PromptTemplate, values: Mapping[str, Any]) -> dict[str, Any]:
    """The declared variables, type-checked; a missing one is the feature's bug, named."""
    chosen = {}
    for name, kind in template.variables.items():
        if name not in values:
            raise EngineError(
                f"template {template.name} needs variable {name!r}, which the "
                f"{template.feature} feature does not provide; use a template written for it"
            )
        value = values[name]
        if not isinstance(value, _TYPES[kind]) or (kind == "int" and isinstance(value, bool)):
            raise EngineError(f"variable {name!r} of {template.name} must be {kind}")
        chosen[name] = value
    return chosen


def build_generation(
    template: PromptTemplate,
    values: Mapping[str, Any],
    max_new_tokens: int | None,
    cancel: CancelToken | None,
) -> GenerationRequest:
    """Render the template into a raw prompt (FIM) or a chat with few-shot turns."""
    try:
        body = render(template.template, values)
        system = render(template.system, values) if template.system else ""
    except RenderError as exc:
        raise EngineError(f"template {template.name}: {exc}", kind="template") from exc
    params = template.params
    limit = min(params.max_new_tokens, max_new_tokens or params.max_new_tokens)
    common: dict[str, Any] = {
        "max_new_tokens": limit,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "stop": params.stop,
        "json_schema": template.schema,
        "cancel": cancel,
        "priority": FEATURE_PRIORITY.get(template.feature, 1),
    }
    if not system and not template.examples:
        return GenerationRequest(prompt=body, **common)
    messages = [ChatMessage("system", system)] if system else []
    for example in template.examples:
        messages += [ChatMessage("user", example.input), ChatMessage("assistant", example.output)]
    messages.append(ChatMessage("user", body))
    return GenerationRequest(messages=tuple(messages), **common)


def _prompt_text(generation: GenerationRequest) -> str:
    if generation.prompt is not None:
        return generation.prompt
    return "\n".join(f"{m.role.upper()}: {m.content}" for m in generation.messages)


class Engine:
    """Owns the backends, the prompt library and the store for one process."""

    def __init__(
        self,
        settings: Settings,
        store: Any,
        library: PromptLibrary,
        backend_factory: BackendFactory,
    ) -> None:
        self.settings = settings
        self.store = store
        self.library = library
        self._factory = backend_factory
        self._backends: dict[str, Backend] = {}
        from codetune_lsp.store import CachePolicy

        self._cache_policy = CachePolicy.from_settings(settings.store)
        self._memory: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    def _remembered(self, key: str) -> Any:
        entry = self._memory.get(key)
        if entry is None:
            return None
        response, expires = entry
        if expires and time.monotonic() > expires:
            del self._memory[key]
            return None
        self._memory.move_to_end(key)
        return response

    def _remember(self, key: str, response: Any) -> None:
        ttl = self._cache_policy.ttl
        self._memory[key] = (response, time.monotonic() + ttl.total_seconds() if ttl else 0.0)
        self._memory.move_to_end(key)
        while len(self._memory) > MEMORY_CACHE_ENTRIES:
            self._memory.popitem(last=False)

    # -- backends -----------------------------------------------------------------------

    def backend(self, profile_name: str) -> Backend:
        """The shared backend for a model profile (created on first use)."""
        if profile_name not in self._backends:
            profile = self.settings.models.get(profile_name)
            if profile is None:
                known = ", ".join(sorted(self.settings.models)) or "none"
                raise EngineError(
                    f"no model profile named {profile_name!r} (configured: {known}); add "
                    f"[models.{profile_name}] to your config file or pick another profile",
                    kind="config",
                )
            self._backends[profile_name] = self._factory(profile_name, profile)
        return self._backends[profile_name]

    def token_counter(self, profile_name: str) -> TokenCounter:
        """Batched token counts with the model's real tokenizer when it is loaded locally,
        else an estimate that errs on the long side."""
        backend = self.backend(profile_name)
        model = getattr(backend, "loaded", None)  # the local model, once in memory
        if model is not None:
            return model.count_tokens_batch
        return lambda texts: [int(len(t) / CHARS_PER_TOKEN_ESTIMATE) + 1 for t in texts]

    def context_length(self, profile_name: str) -> int:
        return self.backend(profile_name).context_length

    # -- the path -----------------------------------------------------------------------

    async def resolve(self, request: EngineRequest) -> Resolved:
        from codetune_lsp.store import PromptStoreError

        try:
            resolved = await self.library.resolve(request.template, request.label, request.unit_key)
        except PromptStoreError as exc:
            raise EngineError(str(exc), kind="template") from exc
        if resolved.template.feature != request.feature:
            raise EngineError(
                f"template {request.template} is for {resolved.template.feature}, "
                f"not {request.feature}",
                kind="template",
            )
        return resolved

    async def run(self, request: EngineRequest, resolved: Resolved | None = None) -> EngineResult:
        """Run one request to completion; every outcome, failure included, is recorded."""
        from codetune_lsp.store import CachedResponse, CacheRequest, ExecutionRecord

        started = time.perf_counter()
        resolved = resolved or await self.resolve(request)
        template = resolved.template
        backend = self.backend(request.model)
        profile = backend.profile
        values = check_variables(template, request.variables)
        generation = build_generation(template, values, request.max_new_tokens, request.cancel)
        prompt_text = _prompt_text(generation)
        params = {
            "temperature": generation.temperature,
            "top_p": generation.top_p,
            "max_new_tokens": generation.max_new_tokens,
            "stop": list(generation.stop),
            "seed": generation.seed,
            "chat": generation.prompt is None,
        }
        base = ExecutionRecord(
            feature=request.feature,
            backend=getattr(backend, "kind", type(backend).__name__),
            model_profile=request.model,
            model_id=profile.id or request.model,
            model_revision=profile.revision or None,
            success=True,
            document_uri=request.document.uri if request.document else None,
            language_id=request.document.language_id if request.document else None,
            document_version=request.document.version if request.document else None,
            template_name=template.name,
            requested_label=request.label,
            resolved_version_id=resolved.version_id,
            experiment_arm_id=resolved.arm_id,
            params=params,
            rendered_prompt=prompt_text,
        )
        cache_request = CacheRequest(
            backend=base.backend,
            model_id=base.model_id,
            model_revision=base.model_revision,
            prompt=prompt_text,
            params=params,
            output_schema=template.schema,
            template_version_id=resolved.version_id,
        )
        use_cache = self._cache_policy.quick_bypass_reason(cache_request) is None
        if use_cache:
            cached = self._remembered(cache_request.key)
            if cached is None:
                cached = await self.store.cache_get(cache_request)
                if cached is not None:  # accepted by the store's policy: safe to remember
                    self._remember(cache_request.key, cached)
            if cached is not None:
                parsed = self._validate(template, cached.output) if template.schema else None
                latency = (time.perf_counter() - started) * 1000
                hit = base.replace(
                    output=cached.output,
                    finish_reason=cached.finish_reason,
                    latency_ms=latency,
                    input_tokens=cached.input_tokens,
                    output_tokens=cached.output_tokens,
                )
                pending = self.store.record_cache_hit(hit, cached)
                return EngineResult(
                    pending.id,
                    cached.output,
                    parsed,
                    cached.finish_reason or "stop",
                    True,
                    template,
                    resolved.version_id,
                    resolved.version,
                    resolved.arm_name,
                    base.model_id,
                    latency,
                    pending,
                )
        try:
            result: GenerationResult = await backend.generate(generation)
        except (BackendError, asyncio.CancelledError, Exception) as exc:
            latency = (time.perf_counter() - started) * 1000
            cancelled = isinstance(exc, asyncio.CancelledError)
            self.store.record_execution(
                base.replace(
                    success=False,
                    finish_reason="cancelled" if cancelled else "error",
                    error_class=type(exc).__name__,
                    error_message=str(exc) or type(exc).__name__,
                    latency_ms=latency,
                )
            )
            if cancelled:
                raise
            if isinstance(exc, BackendError):
                raise EngineError(str(exc), kind="backend") from exc
            logger.exception("backend %s failed", request.model)
            raise EngineError(
                f"model profile '{request.model}' failed: {type(exc).__name__}: {exc}",
                kind="backend",
            ) from exc
        latency = (time.perf_counter() - started) * 1000
        # With a schema, an "error" that came with text is the answer failing validation
        # (an output problem, counted by the feature), not the backend failing.
        schema_miss = template.schema is not None and bool(result.text)
        failed = result.finish_reason == "error" and not schema_miss
        parsed = None
        problem = ""
        if template.schema is not None and not failed and result.finish_reason != "cancelled":
            try:
                parsed = (
                    result.json
                    if result.json is not None
                    else self._validate(template, result.text)
                )
            except OutputInvalid as exc:
                problem = str(exc)
        record = base.replace(
            model_id=result.model_id or base.model_id,
            model_revision=result.revision or base.model_revision,
            output=result.text,
            finish_reason=result.finish_reason,
            success=not failed and not problem and result.finish_reason != "cancelled",
            error_class="OutputInvalid" if problem else ("BackendError" if failed else None),
            error_message=problem or result.error or None,
            latency_ms=latency,
            ttft_ms=(result.time_to_first_token_s * 1000) if result.time_to_first_token_s else None,
            input_tokens=result.tokens_in,
            output_tokens=result.tokens_out,
        )
        pending = self.store.record_execution(record)
        if record.success and use_cache:
            response = CachedResponse(
                result.text, result.finish_reason, result.tokens_in, result.tokens_out
            )
            self.store.cache_put(cache_request, response, success=True)
        if failed:
            raise EngineError(
                result.error or f"model profile '{request.model}' failed", kind="backend"
            )
        if problem:
            raise OutputInvalid(problem)
        return EngineResult(
            pending.id,
            result.text,
            parsed,
            result.finish_reason,
            False,
            template,
            resolved.version_id,
            resolved.version,
            resolved.arm_name,
            record.model_id,
            latency,
            pending,
        )

    def record_served(
        self,
        *,
        feature: str,
        model: str,
        model_id: str,
        template: str,
        version_id: int,
        document: DocumentSnapshot | None,
        output: str,
    ) -> Any:
        """Record an answer served from memory (type-ahead) as a cache hit costing nothing."""
        from codetune_lsp.store import ExecutionRecord

        return self.store.record_execution(
            ExecutionRecord(
                feature=feature,
                backend="type-ahead",
                model_profile=model,
                model_id=model_id,
                success=True,
                document_uri=document.uri if document else None,
                language_id=document.language_id if document else None,
                document_version=document.version if document else None,
                template_name=template,
                resolved_version_id=version_id,
                output=output,
                finish_reason="stop",
                cache_hit=True,
                estimated_cost=0.0,
                latency_ms=0.0,
            )
        )

    @staticmethod
    def _validate(template: PromptTemplate, text: str) -> Any:
        from codetune_lsp.models.structured import check_output

        value, error = check_output(text, template.schema)
        if error:
            raise OutputInvalid(
                f"{template.name}: the model's answer does not fit its schema: {error}"
            )
        return value

    async def aclose(self) -> None:
        for backend in self._backends.values():
            try:
                await backend.close()
            except Exception:
                logger.exception("closing a backend failed")
        self._backends.clear()

"""The one dispatch path every feature takes to a model.

resolve the template version (label or experiment arm) → fit the text to the model's
window with its tokenizer → render → response cache → backend → post-process and validate
→ record what was served → a typed result carrying its execution id. Nothing else talks to
a backend or writes an execution.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codetune_lsp.engine.fit import AroundCursor
from codetune_lsp.engine.generation import (
    build_generation,
    check_variables,
    fim_markers,
    generation_params,
    max_new_tokens,
    prompt_text,
    repo_markers,
)
from codetune_lsp.engine.memory import ResponseMemory
from codetune_lsp.engine.request import (
    EngineError,
    EngineRequest,
    EngineResult,
    OutputInvalid,
    Piece,
)
from codetune_lsp.models.base import (
    Backend,
    BackendError,
    BackendInfo,
    CancelToken,
    GenerationRequest,
    GenerationResult,
)
from codetune_lsp.models.registry import BackendManager, UnknownProfile
from codetune_lsp.prompts.library import PromptLibrary, Resolved
from codetune_lsp.prompts.template import PromptTemplate
from codetune_lsp.settings import ModelProfile, Settings

# From the modules without SQLAlchemy: the engine may serve before the store is open.
from codetune_lsp.store.cache_policy import CachedResponse, CachePolicy, CacheRequest
from codetune_lsp.store.execution import ExecutionRecord
from codetune_lsp.store.prompt_info import PromptStoreError

if TYPE_CHECKING:
    from codetune_lsp.store import Store

logger = logging.getLogger(__name__)

BackendFactory = Callable[..., Backend]
# Room kept free beyond the template's text and max_new_tokens: special tokens, a margin.
RESERVED_TOKENS = 16
EMPTY_MESSAGE = "post-processing left nothing to show"


@dataclass(frozen=True)
class _Plan:
    """A request with its version resolved and its backend chosen: shared by its pieces."""

    request: EngineRequest
    resolved: Resolved
    backend: Backend
    info: BackendInfo
    cancel: CancelToken

    @property
    def template(self) -> PromptTemplate:
        return self.resolved.template


@dataclass(frozen=True)
class _Call:
    """One piece on its way to the model: what was rendered and how it is recorded."""

    piece: Piece
    generation: GenerationRequest
    base: ExecutionRecord
    cache: CacheRequest
    use_cache: bool
    started: float

    def latency_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


class Engine:
    """Owns the backends, the prompt library and the store for one process."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        library: PromptLibrary,
        backend_factory: BackendFactory,
    ) -> None:
        self.settings = settings
        self.store = store
        self.library = library
        self.backends = BackendManager(settings.models, factory=backend_factory)
        self._cache_policy = CachePolicy.from_settings(settings.store)
        self._memory = ResponseMemory(self._cache_policy.ttl)

    # -- backends -----------------------------------------------------------------------

    def backend(self, profile_name: str) -> Backend:
        """The shared backend for a model profile (created on first use)."""
        try:
            return self.backends.get(profile_name)
        except UnknownProfile as exc:
            known = ", ".join(sorted(self.settings.models)) or "none"
            raise EngineError(
                f"no model profile named {profile_name!r} (configured: {known}); add "
                f"[models.{profile_name}] to your config file or pick another profile",
                kind="config",
            ) from exc
        except BackendError as exc:
            raise EngineError(str(exc), kind="config") from exc

    def info(self, profile_name: str) -> BackendInfo:
        return self.backend(profile_name).info()

    def profile(self, profile_name: str) -> ModelProfile:
        return self.backend(profile_name).profile

    # -- the path -----------------------------------------------------------------------

    async def resolve(self, request: EngineRequest) -> Resolved:
        """The template version for a request (its label, or its experiment arm)."""
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
        plan = await self._plan(request, resolved)
        pieces = self._fit(plan)
        if len(pieces) != 1:
            raise EngineError(f"{request.template}: expected one piece of text, got {len(pieces)}")
        return await self._execute(plan, pieces[0])

    async def run_pieces(
        self, request: EngineRequest, resolved: Resolved | None = None
    ) -> list[EngineResult | EngineError]:
        """Run each piece of a split fit concurrently (the local backend batches them);
        each result or engine error in order. Cancellation and bugs propagate."""
        plan = await self._plan(request, resolved)
        runs = [self._execute(plan, piece) for piece in self._fit(plan)]
        outcomes = await asyncio.gather(*runs, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, EngineError):
                raise outcome
        return outcomes  # type: ignore[return-value]

    # -- steps ----------------------------------------------------------------------------

    async def _plan(self, request: EngineRequest, resolved: Resolved | None) -> _Plan:
        backend = self.backend(request.model)
        info = backend.info()
        if resolved is None:
            if request.fim_fallback and info.fim_format is None:
                request = _with_template(request, request.fim_fallback)
            resolved = await self.resolve(request)
        return _Plan(request, resolved, backend, info, request.cancel or CancelToken())

    def _fit(self, plan: _Plan) -> list[Piece]:
        """The request's text fitted to the window: the window minus the template's own
        text, the tokens to generate and a reserve, counted with the model's tokenizer."""
        fit = plan.request.fit
        if fit is None:
            return [Piece({})]
        template, info = plan.template, plan.info
        if isinstance(fit, AroundCursor) and "context" not in template.variables:
            fit = fit.without_context()  # a version written before cross-file context
        if isinstance(fit, AroundCursor) and fit.typed and not _takes_middle(template, info):
            fit = fit.with_typing_in_prefix()
        fixed = [template.system, template.template]
        if "fim" in template.variables:
            fixed += fim_markers(info.fim_format).values()
        if "repo" in template.variables:
            fixed += repo_markers(info.repo_markers).values()
        budget = (
            info.context_length
            - max_new_tokens(template, plan.request.max_new_tokens)
            - sum(info.count_tokens(fixed))
            - RESERVED_TOKENS
        )
        return fit.pieces(budget, info.count_tokens)

    async def _execute(self, plan: _Plan, piece: Piece) -> EngineResult:
        call = self._prepare(plan, piece)
        if call.use_cache:
            cached = await self._cached(call.cache)
            if cached is not None:
                return self._serve_hit(plan, call, cached)
        result = await self._generate(plan, call)
        return self._finish(plan, call, result)

    def _prepare(self, plan: _Plan, piece: Piece) -> _Call:
        """Check the variables, render, and describe the execution for the history."""
        started = time.perf_counter()
        request, template = plan.request, plan.template
        values = {
            "fim": fim_markers(plan.info.fim_format),
            "repo": repo_markers(plan.info.repo_markers),
            **request.variables,
            **piece.variables,
        }
        start = piece.answer_start
        generation = build_generation(
            template,
            check_variables(template, values),
            request.max_new_tokens,
            plan.cancel,
            _after_start(request.end_when, start),
            request.first_word,
            start,
        )
        base = self._record_base(plan, generation, piece)
        cache = CacheRequest(
            backend=base.backend,
            model_id=base.model_id,
            model_revision=base.model_revision,
            prompt=base.rendered_prompt or "",
            params=base.params,
            output_schema=template.schema,
            template_version_id=plan.resolved.version_id,
        )
        use_cache = self._cache_policy.quick_bypass_reason(cache) is None
        return _Call(piece, generation, base, cache, use_cache, started)

    def _record_base(
        self, plan: _Plan, generation: GenerationRequest, piece: Piece
    ) -> ExecutionRecord:
        request, profile, document = plan.request, plan.backend.profile, plan.request.document
        return ExecutionRecord(
            feature=request.feature,
            backend=plan.info.kind,
            model_profile=request.model,
            model_id=profile.id or request.model,
            model_revision=profile.revision or None,
            success=True,
            document_uri=document.uri if document else None,
            language_id=document.language_id if document else None,
            document_version=document.version if document else None,
            template_name=plan.template.name,
            requested_label=request.label,
            resolved_version_id=plan.resolved.version_id,
            experiment_arm_id=plan.resolved.arm_id,
            params=generation_params(generation),
            rendered_prompt=prompt_text(generation),
            context=piece.context,
        )

    async def _cached(self, cache: CacheRequest) -> CachedResponse | None:
        """The memory, then the store's cache (whose hits, policy-checked, are remembered)."""
        hit = self._memory.get(cache.key)
        if hit is None:
            hit = await self.store.cache_get(cache)
            if hit is not None:
                self._memory.put(cache.key, hit)
        return hit

    def _serve_hit(self, plan: _Plan, call: _Call, cached: CachedResponse) -> EngineResult:
        template = plan.template
        parsed = _validate(template, cached.output) if template.schema else None
        served = self._postprocess(plan, call, cached.output)
        record = call.base.replace(
            output=cached.output,
            finish_reason=cached.finish_reason,
            latency_ms=call.latency_ms(),
            input_tokens=cached.input_tokens,
            output_tokens=cached.output_tokens,
            **_served_fields(served),
        )
        pending = self.store.record_cache_hit(record, cached)
        finish = cached.finish_reason or "stop"
        return self._result(plan, call, pending, served, cached.output, parsed, finish, True)

    async def _generate(self, plan: _Plan, call: _Call) -> GenerationResult:
        """The backend call, bounded by the request's timeout; a failure is recorded and
        raised as an EngineError (a cancellation is recorded and re-raised)."""
        request = plan.request
        try:
            return await asyncio.wait_for(plan.backend.generate(call.generation), request.timeout_s)
        except TimeoutError as exc:
            plan.cancel.cancel()
            message = f"model profile '{request.model}' gave no answer in {request.timeout_s} s"
            self._record_failure(call, "timeout", "Timeout", message)
            raise EngineError(message, kind="timeout") from exc
        except asyncio.CancelledError:
            plan.cancel.cancel()
            self._record_failure(call, "cancelled", "CancelledError", "cancelled")
            raise
        except BackendError as exc:
            self._record_failure(call, "error", type(exc).__name__, str(exc))
            raise EngineError(str(exc), kind="backend") from exc
        except Exception as exc:
            message = f"model profile '{request.model}' failed: {type(exc).__name__}: {exc}"
            logger.warning("%s", message)
            self._record_failure(call, "error", type(exc).__name__, message)
            raise EngineError(message, kind="backend") from exc

    def _record_failure(self, call: _Call, finish: str, error_class: str, message: str) -> None:
        self.store.record_execution(
            call.base.replace(
                success=False,
                finish_reason=finish,
                error_class=error_class,
                error_message=message,
                latency_ms=call.latency_ms(),
            )
        )

    def _finish(self, plan: _Plan, call: _Call, result: GenerationResult) -> EngineResult:
        """Validate and post-process the answer, record it, cache it, and type it."""
        template = plan.template
        # With a schema, an "error" that came with text is the answer failing validation
        # (an output problem, counted by the feature), not the backend failing.
        failed = result.finish_reason == "error" and not (template.schema and result.text)
        cancelled = result.finish_reason == "cancelled"
        parsed, problem = (None, "") if failed or cancelled else _parsed(template, result)
        served = "" if failed or problem else self._postprocess(plan, call, result.text)
        model_ok = not failed and not problem and not cancelled
        record = call.base.replace(
            model_id=result.model_id or call.base.model_id,
            model_revision=result.revision or call.base.model_revision,
            output=result.text,
            finish_reason=result.finish_reason,
            success=model_ok,
            error_class="OutputInvalid" if problem else ("BackendError" if failed else None),
            error_message=problem or result.error or None,
            latency_ms=call.latency_ms(),
            ttft_ms=(result.time_to_first_token_s * 1000) if result.time_to_first_token_s else None,
            input_tokens=result.tokens_in,
            output_tokens=result.tokens_out,
        )
        if model_ok:
            record = record.replace(**_served_fields(served))
        pending = self.store.record_execution(record)
        if model_ok and call.use_cache:
            response = CachedResponse(
                result.text, result.finish_reason, result.tokens_in, result.tokens_out
            )
            self.store.cache_put(call.cache, response, success=True)
        if failed:
            message = result.error or f"model profile '{plan.request.model}' failed"
            raise EngineError(message, kind="backend")
        if problem:
            raise OutputInvalid(problem)
        finish = result.finish_reason
        return self._result(plan, call, pending, served, result.text, parsed, finish, False)

    @staticmethod
    def _postprocess(plan: _Plan, call: _Call, raw: str) -> str:
        """The served text: the raw answer less its required start, post-processed."""
        start = call.piece.answer_start
        if start:
            raw = raw[len(start) :] if raw.startswith(start) else ""
        process = plan.request.postprocess
        return process(raw) if process is not None else raw

    @staticmethod
    def _result(
        plan: _Plan,
        call: _Call,
        pending: Any,
        served: str,
        raw: str,
        parsed: Any,
        finish: str,
        hit: bool,
    ) -> EngineResult:
        resolved = plan.resolved
        return EngineResult(
            execution_id=pending.id,
            text=served,
            json=parsed,
            finish_reason=finish,
            cache_hit=hit,
            template=resolved.template,
            version_id=resolved.version_id,
            version=resolved.version,
            arm=resolved.arm_name,
            model_id=call.base.model_id,
            latency_ms=call.latency_ms(),
            recorded=pending,
            raw_text=raw,
            lines=call.piece.lines,
        )

    def record_served(
        self,
        *,
        feature: str,
        model: str,
        model_id: str,
        template: str,
        version_id: int,
        document: Any,
        output: str,
    ) -> Any:
        """Record an answer served from memory (type-ahead) as a cache hit costing nothing."""
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
                served_output=output,
                finish_reason="stop",
                cache_hit=True,
                estimated_cost=0.0,
                latency_ms=0.0,
            )
        )

    async def aclose(self) -> None:
        await self.backends.aclose()


def _takes_middle(template: PromptTemplate, info: BackendInfo) -> bool:
    """Whether typed text may follow the FIM middle marker: the template places ``middle``,
    the model's format ends the prompt with that marker (T5 span infilling does not), and
    the backend runs in this process (only those enforce ``starts_with``; a remote server
    would let the model ignore the typed word the prompt leaves out)."""
    return (
        "middle" in template.variables
        and bool(fim_markers(info.fim_format)["middle"])
        and info.kind == "local"
    )


def _after_start(
    end_when: Callable[[str], bool] | None, start: str
) -> Callable[[str], bool] | None:
    """``end_when`` judging the answer after its required start, as it will be served."""
    if end_when is None or not start:
        return end_when
    return lambda raw: len(raw) > len(start) and end_when(raw[len(start) :])


def _with_template(request: EngineRequest, template: str) -> EngineRequest:
    from dataclasses import replace

    return replace(request, template=template)


def _served_fields(served: str) -> dict[str, Any]:
    """What the user was shown; an empty answer is not a success."""
    if served.strip():
        return {"served_output": served}
    return {
        "served_output": served,
        "empty_result": True,
        "success": False,
        "error_class": "EmptyResult",
        "error_message": EMPTY_MESSAGE,
    }


def _validate(template: PromptTemplate, text: str) -> Any:
    from codetune_lsp.models.structured import check_output

    value, error = check_output(text, template.schema)
    if error:
        raise OutputInvalid(f"{template.name}: the model's answer does not fit its schema: {error}")
    return value


def _parsed(template: PromptTemplate, result: GenerationResult) -> tuple[Any, str]:
    """The answer's JSON where the template has a schema, and the problem if it fails."""
    if template.schema is None:
        return None, ""
    try:
        return (result.json if result.json is not None else _validate(template, result.text)), ""
    except OutputInvalid as exc:
        return None, str(exc)

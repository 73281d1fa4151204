"""Completions: from a document snapshot and a cursor to the text to insert.

Per document: a type-ahead hit is served with no model call. Otherwise the request is
debounced and cancels the one before it, and at most one generation runs. The engine
fits the text around the cursor to the model's window, runs the fill-in-the-middle
template (or the chat one when the model has no FIM format), and serves the answer
post-processed to fit the cursor.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.features.cross_file import CrossFileFeature
from codetune_lsp.features.host import FeatureHost
from codetune_lsp.prompts.completion_text import CHAT_TEMPLATE
from codetune_lsp.scheduling import LatestWins
from codetune_lsp.settings import CompletionSettings

if TYPE_CHECKING:
    from codetune_lsp.context.service import CursorContext
    from codetune_lsp.engine import EngineRequest
    from codetune_lsp.prompts.completion_text import CompletionShape

logger = logging.getLogger(__name__)

# Extra time the outer bound allows beyond the engine's own deadline.
OUTER_GRACE_S = 1.0
# Typing at the cursor of the last request keeps that request's prompt and adds the typed
# text after it, up to this many characters (then the prompt starts afresh).
MAX_TYPED_CHARS = 120


@dataclass(frozen=True)
class Suggestion:
    text: str
    execution_id: str
    cache_hit: bool


@dataclass
class _Served:
    """The last suggestion served for a document, for type-ahead."""

    prefix: str
    text: str
    template: str
    version_id: int
    model_id: str
    execution_id: str
    suffix: str = ""
    settings: Any = None  # the completion settings it was made with


@dataclass(frozen=True)
class _Anchor:
    """The text around the cursor of the last model request for a document."""

    prefix: str
    suffix: str


class CompletionFeature:
    """One per server: owns the per-document gate and the type-ahead memory."""

    def __init__(
        self,
        host: FeatureHost,
        cross_file: CrossFileFeature | None = None,
        extend_prompts: bool = True,
    ) -> None:
        self.cross_file = cross_file  # None: the current file only
        self.host = host
        self.gate = LatestWins()
        self.extend_prompts = extend_prompts  # False: every prompt from the cursor as it is
        self._served: dict[str, _Served] = {}
        self._anchors: dict[str, _Anchor] = {}
        self._accepted: set[str] = set()
        self.model_calls = 0

    @property
    def settings(self) -> CompletionSettings:
        return self.host.settings.features.completion

    def forget(self, uri: str) -> None:
        self._served.pop(uri, None)
        self._anchors.pop(uri, None)

    def accepted(self, execution_id: str) -> None:
        """The editor accepted a suggestion (its item command ran)."""
        self._accepted.add(execution_id)

    def _dismiss_previous(self, uri: str, store: Any) -> None:
        """A new model call for ``uri``: the suggestion before it, if not accepted, was
        dismissed (typing into a suggestion is served by type-ahead, not a model call)."""
        previous = self._served.pop(uri, None)
        if previous is None:
            return
        if previous.execution_id in self._accepted:
            self._accepted.discard(previous.execution_id)
        else:
            store.add_feedback(previous.execution_id, "rejected")

    async def suggest(
        self, snap: DocumentSnapshot, offset: int, explicit: bool
    ) -> Suggestion | None:
        """The completion at ``offset``; None when there is nothing (or it was superseded)."""
        settings = self.settings
        if not settings.enabled:
            return None
        prefix, suffix = snap.text[:offset], snap.text[offset:]
        ahead = await self._type_ahead(snap, prefix, suffix)
        if ahead is not None:
            return ahead
        services = await self.host.early_services()
        if not services.engine.info(settings.model).loaded:
            if not explicit:  # typing: start loading, answer now, suggest once it is ready
                self.host.models.start(settings.model)
                return None
            try:
                await self.host.models.ready(settings.model)
            except Exception as exc:
                logger.warning("completion model is not available: %s", exc)
                return None
        debounce = 0.0 if explicit else settings.debounce_ms / 1000
        # The engine stops the model at the deadline and records a timeout; the outer bound
        # only covers a request stuck before it reaches the engine.
        deadline = asyncio.get_running_loop().time() + settings.timeout_ms / 1000
        try:
            return await asyncio.wait_for(
                self.gate.run(
                    snap.uri, lambda: self._generate(snap, prefix, suffix, deadline), debounce
                ),
                timeout=settings.timeout_ms / 1000 + OUTER_GRACE_S,
            )
        except TimeoutError:
            logger.info("completion for %s timed out after %d ms", snap.uri, settings.timeout_ms)
            return None

    async def _type_ahead(
        self, snap: DocumentSnapshot, prefix: str, suffix: str = ""
    ) -> Suggestion | None:
        """Served from memory: the same request again, or the user typing into the last
        suggestion. Recorded as a cache hit; no model, prompt or tokenizer work."""
        served = self._served.get(snap.uri)
        if served is None or not prefix.startswith(served.prefix):
            return None
        typed = prefix[len(served.prefix) :]
        if not typed and suffix == served.suffix and served.settings == self.settings:
            return await self._record_memory_hit(snap, served, served.text)
        if not typed or not served.text.startswith(typed) or len(typed) >= len(served.text):
            return None
        return await self._record_memory_hit(snap, served, served.text[len(typed) :])

    async def _record_memory_hit(
        self, snap: DocumentSnapshot, served: _Served, rest: str
    ) -> Suggestion:
        services = await self.host.early_services()
        pending = services.engine.record_served(
            feature="completion",
            model=self.settings.model,
            model_id=served.model_id,
            template=served.template,
            version_id=served.version_id,
            document=snap,
            output=rest,
        )
        return Suggestion(rest, pending.id, cache_hit=True)

    async def _generate(
        self, snap: DocumentSnapshot, prefix: str, suffix: str, deadline: float
    ) -> Suggestion | None:
        # Imported here: the engine pulls in Jinja and SQLAlchemy, which start-up must not.
        from codetune_lsp.engine import EngineError

        services = await self.host.early_services()
        settings = self.settings
        await self.host.models.ready(settings.model)
        request = self._request(snap, prefix, suffix, deadline)
        self.model_calls += 1
        try:
            result = await services.engine.run(request)
        except EngineError as exc:
            logger.warning("completion failed: %s", exc)
            if exc.kind != "timeout":
                self.host.tell(f"codetune-lsp completion: {exc}", logging.WARNING)
            return None
        self._dismiss_previous(snap.uri, services.store)
        if not result.text:
            return None
        self._served[snap.uri] = _Served(
            prefix,
            result.text,
            result.template.name,
            result.version_id,
            result.model_id,
            result.execution_id,
            suffix,
            settings,
        )
        return Suggestion(result.text, result.execution_id, result.cache_hit)

    def _request(
        self, snap: DocumentSnapshot, prefix: str, suffix: str, deadline: float
    ) -> EngineRequest:
        """The engine request for the cursor: what kind of place it is, snippets of other
        files, the token limits, and the post-processing that fits the answer to it."""
        from codetune_lsp.engine import AroundCursor, EngineRequest
        from codetune_lsp.prompts.completion_text import CompletionShape, cursor_kind

        settings = self.settings
        kind = cursor_kind(prefix, suffix)
        shape = CompletionShape(prefix, suffix)
        file_name = posixpath.basename(snap.uri)
        profile = self.host.settings.models.get(settings.model)
        in_prompt = profile.context_snippets if profile is not None else True
        cursor = self.cross_file.gather(snap, len(prefix), in_prompt) if self.cross_file else None
        anchor, typed = self._anchored(snap.uri, prefix, suffix, kind != "body")
        return EngineRequest(
            feature="completion",
            template=settings.template,
            fim_fallback=CHAT_TEMPLATE,
            model=settings.model,
            label=settings.label,
            variables={
                "language": snap.language_id,
                "file_name": file_name,
                "cursor": kind,
                "chat": self._chat_cues(settings.model),
                "repo_name": cursor.repo_name if cursor else "",
                "file_path": cursor.file_path if cursor else file_name,
            },
            document=snap,
            unit_key=self._unit_key(snap),
            max_new_tokens=settings.body_max_new_tokens
            if kind == "body"
            else settings.max_new_tokens,
            fit=AroundCursor(
                anchor,
                suffix,
                snippets=cursor.snippets if cursor else (),
                context_tokens=settings.cross_file.max_tokens,
                limit=settings.max_prompt_tokens,
                language=snap.language_id,
                typed=typed,
            ),
            postprocess=self._finisher(shape, kind, snap.language_id),
            end_when=shape.complete,
            first_word=member_words(prefix, cursor),
            timeout_s=max(deadline - asyncio.get_running_loop().time(), 0.001),
        )

    def _anchored(self, uri: str, prefix: str, suffix: str, may_extend: bool) -> tuple[str, str]:
        """The prefix to fit, and what was typed after it. While the user types at the
        cursor of the last request (nothing else changed), that request's prefix, with the
        typed characters to go after it: the new prompt then extends the last one, so a
        local model evaluates only those characters, not the whole suffix again. Otherwise
        this request becomes the anchor."""
        last = self._anchors.get(uri)
        if (
            self.extend_prompts
            and may_extend
            and last is not None
            and last.suffix == suffix
            and prefix.startswith(last.prefix)
        ):
            typed = prefix[len(last.prefix) :]
            if len(typed) <= MAX_TYPED_CHARS:
                return last.prefix, typed
        self._anchors[uri] = _Anchor(prefix, suffix)
        return prefix, ""

    @staticmethod
    def _finisher(shape: CompletionShape, kind: str, language: str) -> Callable[[str], str]:
        """Post-processing; a Python body also gets the standard-library imports it uses
        and the file lacks (the small model writes ``math.ceil`` without the import)."""
        if kind != "body" or language != "python":
            return shape.finish
        from codetune_lsp.prompts.python_imports import with_missing_imports

        return lambda raw: with_missing_imports(shape.prefix, shape.finish(raw), shape.suffix)

    def _chat_cues(self, model: str) -> dict[str, str]:
        """The model family's chat markers ({} where it has none or is unknown)."""
        from codetune_lsp.models.profiles import family_for

        profile = self.host.settings.models.get(model)
        if profile is None:
            return {}
        try:
            fmt = family_for(model, profile).chat_format
        except Exception:  # an unknown variant: the engine reports it when loading
            return {}
        return fmt.cues() if fmt is not None else {}

    def _unit_key(self, snap: DocumentSnapshot) -> str:
        roots = self.host.roots.paths
        return f"{roots[0] if roots else ''}|{snap.uri}"


def member_words(prefix: str, cursor: CursorContext | None) -> tuple[str, ...]:
    """After ``module.`` (a workspace module): what each name the module reaches adds to
    what is typed after the dot. The answer must begin with one of them; none: free."""
    if cursor is None or not cursor.members:
        return ()
    from codetune_lsp.context.sources import MEMBER_AT_CURSOR

    match = MEMBER_AT_CURSOR.search(prefix[-200:])
    if match is None or match.group(1) != cursor.members_of:
        return ()
    typed = match.group(2)
    return tuple(name[len(typed) :] for name in cursor.members if name.startswith(typed))

"""The response cache's keys and policy, without the table operations (``cache.py``): the
engine needs these on the request path, before SQLAlchemy is imported."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any

from codetune_lsp.redaction import redact
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store.canonical import canonical_hash


def request_key(request: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical, sorted-keys JSON of ``request``."""
    return canonical_hash(request)


@dataclass(frozen=True)
class CacheRequest:
    """Everything that determines a model's answer."""

    backend: str
    model_id: str
    prompt: str
    params: Mapping[str, Any] = field(default_factory=dict)
    model_revision: str | None = None
    output_schema: Any = None
    template_version_id: int | None = None

    def canonical(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model_id": self.model_id,
            "model_revision": self.model_revision,
            "prompt": self.prompt,
            "params": dict(self.params),
            "output_schema": self.output_schema,
            "template_version_id": self.template_version_id,
        }

    @cached_property
    def key(self) -> str:
        return request_key(self.canonical())

    @property
    def sampled(self) -> bool:
        """Whether the answer is random (so a cached one is not what a new call would say)."""
        temperature = self.params.get("temperature", 0) or 0
        return float(temperature) > 0 or self.params.get("do_sample") is True


@dataclass(frozen=True)
class CachedResponse:
    output: str
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class CachePolicy:
    enabled: bool = True
    ttl: timedelta | None = timedelta(days=7)
    max_entries: int = 10_000
    cache_sampled: bool = False
    record_text: bool = True

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> CachePolicy:
        return cls(
            enabled=settings.cache_enabled and settings.record_text,
            ttl=timedelta(seconds=settings.cache_ttl_s) if settings.cache_ttl_s > 0 else None,
            max_entries=settings.cache_max_entries,
            cache_sampled=settings.cache_sampled,
            record_text=settings.record_text,
        )

    def quick_bypass_reason(self, request: CacheRequest) -> str | None:
        """The cheap part of :meth:`bypass_reason` (no redaction scan): fine on the loop."""
        if not self.enabled or not self.record_text:
            return "disabled"
        if self.max_entries <= 0:
            return "disabled"
        if request.sampled and not self.cache_sampled:
            return "sampled"
        return None

    def bypass_reason(self, request: CacheRequest) -> str | None:
        """Why ``request`` must not use the cache (None: it may)."""
        reason = self.quick_bypass_reason(request)
        if reason:
            return reason
        if redact(request.prompt) != request.prompt:
            return "secret in prompt"
        return None

    def refuse_reason(
        self, request: CacheRequest, response: CachedResponse, success: bool
    ) -> str | None:
        """Why ``response`` must not be stored (None: store it)."""
        reason = self.bypass_reason(request)
        if reason:
            return reason
        if not success:
            return "error"
        if redact(response.output) != response.output:
            return "secret in output"
        return None


@dataclass
class CacheCounters:
    """Per-process counters (the CLI's ``cache stats`` reads the table instead)."""

    hits: int = 0
    misses: int = 0
    bypassed: int = 0
    stored: int = 0
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            looked_up = self.hits + self.misses
            return {
                "hits": self.hits,
                "misses": self.misses,
                "bypassed": self.bypassed,
                "stored": self.stored,
                "refused": self.refused,
                "hit_rate_pct": round(100 * self.hits / looked_up, 1) if looked_up else 0,
            }

"""What the engine hands to the store for one execution: :class:`ExecutionRecord` (no
SQLAlchemy here; ``records.py`` turns it into rows)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionRecord:
    """One execution, as the engine saw it. Only the first five fields are required."""

    feature: str
    backend: str
    model_profile: str
    model_id: str
    success: bool
    model_revision: str | None = None
    document_uri: str | None = None
    language_id: str | None = None
    document_version: int | None = None
    template_name: str | None = None
    requested_label: str | None = None
    resolved_version_id: int | None = None
    experiment_arm_id: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    rendered_prompt: str | None = None
    output: str | None = None  # the model's raw answer
    served_output: str | None = None  # what the user was shown (after post-processing)
    empty_result: bool = False  # post-processing left nothing to show
    # Cross-file context in the prompt: one {source, path, tokens} entry per snippet.
    context: Sequence[Mapping[str, Any]] = ()
    finish_reason: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_hit: bool = False
    estimated_cost: float | None = None
    created_at: datetime | None = None

    def validate(self) -> None:
        """Raise ValueError for a record the store must not accept (cheap: on the caller)."""
        for name in ("feature", "backend", "model_profile", "model_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"ExecutionRecord.{name} must be a non-empty string")
        if not isinstance(self.success, bool):
            raise ValueError("ExecutionRecord.success must be true or false")
        for name in ("input_tokens", "output_tokens", "document_version"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"ExecutionRecord.{name} must be a whole number >= 0")
        for name in ("latency_ms", "ttft_ms", "estimated_cost"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise ValueError(f"ExecutionRecord.{name} must be a number >= 0")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise ValueError("ExecutionRecord.created_at must be timezone-aware")

    def replace(self, **changes: Any) -> ExecutionRecord:
        return dataclasses.replace(self, **changes)

    def as_cache_hit(self, cached: Any) -> ExecutionRecord:
        """This execution answered from the cache (a ``CachedResponse``): flag set, cost 0."""
        return self.replace(
            cache_hit=True,
            estimated_cost=0.0,
            success=True,
            output=cached.output,
            finish_reason=cached.finish_reason,
            input_tokens=cached.input_tokens,
            output_tokens=cached.output_tokens,
            error_class=None,
            error_message=None,
        )

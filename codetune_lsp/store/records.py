"""What the engine hands to the store: an :class:`ExecutionRecord`, and how it becomes a row.

Building the row is where secrets are removed: prompt, output, error text and document uri go
through :func:`codetune_lsp.redaction.redact` before anything is written; with
``store.record_text = false`` no prompt or output text is kept at all, only hashes and metrics.
The prompt hash is taken of the redacted text, so a stored hash cannot be used to guess a
secret that was in the prompt.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table

from codetune_lsp.redaction import redact
from codetune_lsp.store.canonical import canonical_json, sha256_hex
from codetune_lsp.store.tables import Execution, PromptText

MAX_ERROR_CHARS = 4000

EXECUTIONS: Table = Execution.__table__  # type: ignore[assignment]
PROMPT_TEXTS: Table = PromptText.__table__  # type: ignore[assignment]


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


def _text(value: str | None, limit: int | None = None) -> str | None:
    if value is None:
        return None
    cleaned = redact(value)
    return cleaned[:limit] if limit else cleaned


def build_execution_row(
    record: ExecutionRecord, execution_id: str, created_at: datetime, record_text: bool
) -> tuple[dict[str, Any], list[tuple[Table, dict[str, Any]]]]:
    """The ``executions`` row (and the ``prompt_texts`` row to add if absent)."""
    params_json = canonical_json(dict(record.params))
    side: list[tuple[Table, dict[str, Any]]] = []
    prompt_hash = None
    if record.rendered_prompt is not None:
        prompt = redact(record.rendered_prompt)
        prompt_hash = sha256_hex(prompt)
        if record_text:
            side.append(
                (PROMPT_TEXTS, {"hash": prompt_hash, "text": prompt, "created_at": created_at})
            )
    row = {
        "id": execution_id,
        "created_at": created_at,
        "feature": record.feature,
        "document_uri": _text(record.document_uri),
        "language_id": record.language_id,
        "document_version": record.document_version,
        "template_name": record.template_name,
        "requested_label": record.requested_label,
        "resolved_version_id": record.resolved_version_id,
        "experiment_arm_id": record.experiment_arm_id,
        "backend": record.backend,
        "model_profile": record.model_profile,
        "model_id": record.model_id,
        "model_revision": record.model_revision,
        "params_hash": sha256_hex(params_json),
        "params_json": params_json,
        "rendered_prompt_hash": prompt_hash,
        "output": _text(record.output) if record_text else None,
        "served_output": _text(record.served_output) if record_text else None,
        "empty_result": record.empty_result,
        "context_json": _text(json.dumps(list(record.context))) if record.context else None,
        "finish_reason": record.finish_reason,
        "success": record.success,
        "error_class": record.error_class,
        "error_message": _text(record.error_message, MAX_ERROR_CHARS),
        "latency_ms": record.latency_ms,
        "ttft_ms": record.ttft_ms,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cache_hit": record.cache_hit,
        "estimated_cost": 0.0 if record.cache_hit else record.estimated_cost,
    }
    return row, side

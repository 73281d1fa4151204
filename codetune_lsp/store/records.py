"""What the engine hands to the store: an :class:`ExecutionRecord`, and how it becomes a row.

Building the row is where secrets are removed: prompt, output, error text and document uri go
through :func:`codetune_lsp.redaction.redact` before anything is written; with
``store.record_text = false`` no prompt or output text is kept at all, only hashes and metrics.
The prompt hash is taken of the redacted text, so a stored hash cannot be used to guess a
secret that was in the prompt.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Table

from codetune_lsp.redaction import redact
from codetune_lsp.store.canonical import canonical_json, sha256_hex
from codetune_lsp.store.execution import ExecutionRecord
from codetune_lsp.store.tables import Execution, PromptText

MAX_ERROR_CHARS = 4000

EXECUTIONS: Table = Execution.__table__  # type: ignore[assignment]
PROMPT_TEXTS: Table = PromptText.__table__  # type: ignore[assignment]


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

"""The prompt store's value objects and pure rules (content hash, arm choice): no SQLAlchemy,
so the server can read a label straight from the database file before the store is open."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from codetune_lsp.store.canonical import canonical_hash


class PromptStoreError(ValueError):
    """A prompt-version operation that cannot be done (unknown name, no history...)."""


@dataclass(frozen=True)
class VersionInfo:
    id: int
    template: str
    version: int
    content_hash: str
    body: str
    config: dict[str, Any]
    note: str
    created_at: datetime


@dataclass(frozen=True)
class LabelInfo:
    template: str
    label: str
    version_id: int
    version: int
    previous_version_id: int | None


@dataclass(frozen=True)
class LabelEventInfo:
    id: int
    label: str
    from_version_id: int | None
    to_version_id: int
    actor: str
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class ArmInfo:
    id: int
    name: str
    version_id: int
    weight: float


@dataclass(frozen=True)
class ExperimentInfo:
    id: int
    name: str
    template: str
    status: str
    arms: tuple[ArmInfo, ...]


def content_hash(body: str, config: Mapping[str, Any] | None = None) -> str:
    """The identity of a version: sha256 of its body and model config (canonical JSON)."""
    return canonical_hash({"body": body, "config": dict(config or {})})


def choose_arm(experiment: ExperimentInfo, unit_key: str) -> ArmInfo:
    """Pick an arm by weight, deterministically for a given ``unit_key``."""
    total = sum(arm.weight for arm in experiment.arms)
    if total <= 0:
        raise PromptStoreError(f"experiment {experiment.name!r} has no arm with weight > 0")
    digest = hashlib.sha256(f"{experiment.name}\0{unit_key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * total
    cumulative = 0.0
    for arm in experiment.arms:
        cumulative += arm.weight
        if point < cumulative:
            return arm
    return [arm for arm in experiment.arms if arm.weight > 0][-1]

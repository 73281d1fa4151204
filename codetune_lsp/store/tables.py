"""The store's tables as SQLAlchemy 2.x typed ORM models (the head of the migrations).

Every change here needs a new migration under ``migrations/versions``; a test compares the
migrated schema with these models. Prompt versions and label events are immutable at the
ORM level (an update or delete raises); labels move by appending an event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

FEEDBACK_KINDS = ("accepted", "rejected", "applied", "dismissed", "rating")
EXPERIMENT_STATUSES = ("active", "stopped")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC (portable, sortable) and read back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - SQLite returns datetime already
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PromptTemplate(Base):
    """A named prompt template, e.g. ``completion.infill``."""

    __tablename__ = "prompt_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptVersion(Base):
    """One immutable version of a template, identified within it by its content hash."""

    __tablename__ = "prompt_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "version"),
        UniqueConstraint("template_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptLabel(Base):
    """A movable name (``production``, ``staging``) pointing at one version of a template."""

    __tablename__ = "prompt_labels"
    __table_args__ = (UniqueConstraint("template_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id"))
    name: Mapped[str] = mapped_column(String(100))
    version_id: Mapped[int] = mapped_column(ForeignKey("prompt_versions.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LabelEvent(Base):
    """Append-only log of label moves; rollback reads it."""

    __tablename__ = "label_events"
    __table_args__ = (Index("ix_label_events_template_label", "template_id", "label", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id"))
    label: Mapped[str] = mapped_column(String(100))
    from_version_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_versions.id"))
    to_version_id: Mapped[int] = mapped_column(ForeignKey("prompt_versions.id"))
    actor: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptText(Base):
    """A rendered prompt (redacted), stored once and referenced by its hash."""

    __tablename__ = "prompt_texts"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptChanges(Base):
    """One row counting writes to prompt versions, labels and experiments.

    Each process caches label resolutions in memory and compares this counter (one indexed
    read) to see other processes' writes, instead of expiring its cache on a timer.
    """

    __tablename__ = "prompt_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    counter: Mapped[int] = mapped_column(Integer, default=0)


class Experiment(Base):
    """An A/B experiment over versions of one template."""

    __tablename__ = "experiments"
    __table_args__ = (CheckConstraint("status IN ('active', 'stopped')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("prompt_templates.id"))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExperimentArm(Base):
    """One arm of an experiment: a version and its relative weight."""

    __tablename__ = "experiment_arms"
    __table_args__ = (
        UniqueConstraint("experiment_id", "name"),
        CheckConstraint("weight >= 0", name="weight"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    version_id: Mapped[int] = mapped_column(ForeignKey("prompt_versions.id"))
    weight: Mapped[float] = mapped_column(Float, default=1.0)


class Execution(Base):
    """One model execution (or cache hit), recorded after the fact."""

    __tablename__ = "executions"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    feature: Mapped[str] = mapped_column(String(50), index=True)
    document_uri: Mapped[str | None] = mapped_column(Text)
    language_id: Mapped[str | None] = mapped_column(String(50))
    document_version: Mapped[int | None] = mapped_column(Integer)
    template_name: Mapped[str | None] = mapped_column(String(200), index=True)
    requested_label: Mapped[str | None] = mapped_column(String(100))
    resolved_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("prompt_versions.id", ondelete="SET NULL"), index=True
    )
    experiment_arm_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiment_arms.id", ondelete="SET NULL")
    )
    backend: Mapped[str] = mapped_column(String(50))
    model_profile: Mapped[str] = mapped_column(String(200), index=True)
    model_id: Mapped[str] = mapped_column(String(300))
    model_revision: Mapped[str | None] = mapped_column(String(200))
    params_hash: Mapped[str] = mapped_column(String(64))
    params_json: Mapped[str | None] = mapped_column(Text)
    rendered_prompt_hash: Mapped[str | None] = mapped_column(String(64))
    output: Mapped[str | None] = mapped_column(Text)  # the model's raw answer
    served_output: Mapped[str | None] = mapped_column(Text)  # what the user was shown
    empty_result: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Snippets of other files in the prompt: [{"source", "path", "tokens"}, ...].
    context_json: Mapped[str | None] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(50))
    success: Mapped[bool] = mapped_column(Boolean)
    error_class: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    estimated_cost: Mapped[float | None] = mapped_column(Float)


class Feedback(Base):
    """What the user did with an execution's result."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('accepted', 'rejected', 'applied', 'dismissed', 'rating')", name="kind"
        ),
        CheckConstraint(
            "(kind = 'rating' AND rating IS NOT NULL AND rating BETWEEN 1 AND 5)"
            " OR (kind <> 'rating' AND rating IS NULL)",
            name="rating",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("executions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CacheEntry(Base):
    """A cached model response, keyed by the sha256 of the canonical request."""

    __tablename__ = "cache_entries"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    template_version_id: Mapped[int | None] = mapped_column(Integer, index=True)
    backend: Mapped[str] = mapped_column(String(50))
    model_id: Mapped[str] = mapped_column(String(300))
    output: Mapped[str] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(50))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class EvalRun(Base):
    """One evaluation run: a suite against a template version and a model. Immutable
    once finished (its items too)."""

    __tablename__ = "eval_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'finished', 'failed')", name="status"),
        Index("ix_eval_runs_suite_started", "suite", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    suite: Mapped[str] = mapped_column(String(300))
    suite_hash: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(50))
    template_name: Mapped[str] = mapped_column(String(200))
    template_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("prompt_versions.id", ondelete="SET NULL"), index=True
    )
    model_profile: Mapped[str] = mapped_column(String(200))
    model_id: Mapped[str] = mapped_column(String(300))
    model_revision: Mapped[str | None] = mapped_column(String(200))
    quantization: Mapped[str | None] = mapped_column(String(50))
    params_json: Mapped[str] = mapped_column("params", Text, default="{}")
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary_json: Mapped[str | None] = mapped_column("summary", Text)
    n_items: Mapped[int] = mapped_column(Integer, default=0)


class EvalItem(Base):
    """The outcome of one item (or one sample of it) in an evaluation run."""

    __tablename__ = "eval_items"
    __table_args__ = (UniqueConstraint("run_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(300))
    verdict: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    raw_output: Mapped[str | None] = mapped_column(Text)
    served_output: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImmutableRowError(RuntimeError):
    """Raised when code tries to change a row the store keeps immutable."""


def _forbid(action: str) -> Any:
    def listener(mapper: Mapper[Any], connection: Any, target: Any) -> None:
        raise ImmutableRowError(f"{type(target).__name__} rows are immutable; cannot {action}")

    return listener


event.listen(PromptVersion, "before_update", _forbid("update"))
event.listen(PromptVersion, "before_delete", _forbid("delete"))
event.listen(LabelEvent, "before_update", _forbid("update"))
event.listen(LabelEvent, "before_delete", _forbid("delete"))
event.listen(EvalItem, "before_update", _forbid("update"))


def _finished_run_is_frozen(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    from sqlalchemy import inspect

    before = inspect(target).attrs.status.history.deleted
    if "finished" in before or (target.status == "finished" and not before):
        raise ImmutableRowError("a finished evaluation run is immutable")


event.listen(EvalRun, "before_update", _finished_run_is_frozen)

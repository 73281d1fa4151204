"""Repository functions for prompt templates, immutable versions, labels and experiments.

Only tables and data rules live here; rendering and template files belong to ``prompts/``.
Every function takes a SQLAlchemy ``Session`` inside a write (or read) transaction and returns
frozen value objects, never live ORM rows, so results are safe to pass between threads.

* A version is created idempotently: the same body and config give back the same version.
* A label move appends a :class:`LabelEvent`; rollback moves the label back to where the last
  event took it from (so two rollbacks in a row toggle between the two versions).
* An experiment splits traffic over arms (a version and a weight); :func:`choose_arm` picks an
  arm deterministically from a unit key (e.g. a document uri), so one user sees one arm.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codetune_lsp.store.canonical import canonical_json

# The value types live in prompt_info (read before SQLAlchemy is imported).
from codetune_lsp.store.prompt_info import (  # noqa: F401 (re-exported)
    ArmInfo,
    ExperimentInfo,
    LabelEventInfo,
    LabelInfo,
    PromptStoreError,
    VersionInfo,
    choose_arm,
    content_hash,
)
from codetune_lsp.store.tables import (
    Experiment,
    ExperimentArm,
    LabelEvent,
    PromptChanges,
    PromptLabel,
    PromptTemplate,
    PromptVersion,
    utcnow,
)

RACE_RETRIES = 5


def bump_changes(session: Session) -> None:
    """Record that prompt versions, labels or experiments changed (same transaction)."""
    updated = session.execute(
        update(PromptChanges).where(PromptChanges.id == 1).values(counter=PromptChanges.counter + 1)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        session.add(PromptChanges(id=1, counter=1))


def change_counter(session: Session) -> int:
    """How many prompt writes there have been; a change means cached resolutions are stale."""
    return session.scalar(select(PromptChanges.counter).where(PromptChanges.id == 1)) or 0


def _version_info(version: PromptVersion, template: str) -> VersionInfo:
    return VersionInfo(
        id=version.id,
        template=template,
        version=version.version,
        content_hash=version.content_hash,
        body=version.body,
        config=json.loads(version.config_json),
        note=version.note,
        created_at=version.created_at,
    )


def _template(session: Session, name: str) -> PromptTemplate:
    found = session.scalar(select(PromptTemplate).where(PromptTemplate.name == name))
    if found is None:
        raise PromptStoreError(f"no prompt template named {name!r}")
    return found


def get_or_create_template(session: Session, name: str, description: str = "") -> PromptTemplate:
    if not name or len(name) > 200:
        raise PromptStoreError("a template name must have 1 to 200 characters")
    for _ in range(RACE_RETRIES):
        found = session.scalar(select(PromptTemplate).where(PromptTemplate.name == name))
        if found is not None:
            return found
        try:
            with session.begin_nested():
                template = PromptTemplate(name=name, description=description, created_at=utcnow())
                session.add(template)
            return template
        except IntegrityError:  # another process created it meanwhile
            continue
    raise PromptStoreError(f"could not create template {name!r} (concurrent changes)")


def create_version(
    session: Session,
    template: str,
    body: str,
    config: Mapping[str, Any] | None = None,
    note: str = "",
) -> VersionInfo:
    """Return the version with this content, creating it (number = last + 1) if new."""
    tmpl = get_or_create_template(session, template)
    digest = content_hash(body, config)
    for _ in range(RACE_RETRIES):
        existing = session.scalar(
            select(PromptVersion).where(
                PromptVersion.template_id == tmpl.id, PromptVersion.content_hash == digest
            )
        )
        if existing is not None:
            return _version_info(existing, template)
        last = session.scalar(
            select(func.max(PromptVersion.version)).where(PromptVersion.template_id == tmpl.id)
        )
        try:
            with session.begin_nested():
                version = PromptVersion(
                    template_id=tmpl.id,
                    version=(last or 0) + 1,
                    content_hash=digest,
                    body=body,
                    config_json=canonical_json(dict(config or {})),
                    note=note,
                    created_at=utcnow(),
                )
                session.add(version)
                bump_changes(session)
            return _version_info(version, template)
        except IntegrityError:
            continue
    raise PromptStoreError(f"could not create a version of {template!r} (concurrent changes)")


def get_version(session: Session, version_id: int) -> VersionInfo | None:
    row = session.execute(
        select(PromptVersion, PromptTemplate.name)
        .join(PromptTemplate, PromptTemplate.id == PromptVersion.template_id)
        .where(PromptVersion.id == version_id)
    ).first()
    return _version_info(row[0], row[1]) if row else None


def find_version(session: Session, template: str, version: int) -> VersionInfo | None:
    tmpl = _template(session, template)
    found = session.scalar(
        select(PromptVersion).where(
            PromptVersion.template_id == tmpl.id, PromptVersion.version == version
        )
    )
    return _version_info(found, template) if found else None


def list_versions(session: Session, template: str) -> list[VersionInfo]:
    tmpl = _template(session, template)
    rows = session.scalars(
        select(PromptVersion)
        .where(PromptVersion.template_id == tmpl.id)
        .order_by(PromptVersion.version)
    )
    return [_version_info(v, template) for v in rows]


def set_label(
    session: Session,
    template: str,
    label: str,
    version_id: int,
    actor: str = "",
    reason: str = "",
) -> LabelInfo:
    """Point ``label`` at ``version_id`` (a version of ``template``), logging an event."""
    tmpl = _template(session, template)
    target = session.get(PromptVersion, version_id)
    if target is None or target.template_id != tmpl.id:
        raise PromptStoreError(f"version id {version_id} is not a version of {template!r}")
    if not label or len(label) > 100:
        raise PromptStoreError("a label must have 1 to 100 characters")
    current = session.scalar(
        select(PromptLabel).where(PromptLabel.template_id == tmpl.id, PromptLabel.name == label)
    )
    previous = current.version_id if current is not None else None
    if previous == version_id:
        return LabelInfo(template, label, version_id, target.version, previous)
    now = utcnow()
    if current is None:
        session.add(
            PromptLabel(template_id=tmpl.id, name=label, version_id=version_id, updated_at=now)
        )
    else:
        current.version_id = version_id
        current.updated_at = now
    session.add(
        LabelEvent(
            template_id=tmpl.id,
            label=label,
            from_version_id=previous,
            to_version_id=version_id,
            actor=actor,
            reason=reason,
            created_at=now,
        )
    )
    bump_changes(session)
    session.flush()
    return LabelInfo(template, label, version_id, target.version, previous)


def resolve_label(session: Session, template: str, label: str) -> VersionInfo | None:
    """The version ``label`` points at (None when the template or label does not exist)."""
    row = session.execute(
        select(PromptVersion)
        .join(PromptLabel, PromptLabel.version_id == PromptVersion.id)
        .join(PromptTemplate, PromptTemplate.id == PromptLabel.template_id)
        .where(PromptTemplate.name == template, PromptLabel.name == label)
    ).scalar()
    return _version_info(row, template) if row is not None else None


def resolve_labels(session: Session, templates: list[str], label: str) -> dict[str, VersionInfo]:
    """``resolve_label`` for several templates in one query (those without it are left out)."""
    rows = session.execute(
        select(PromptTemplate.name, PromptVersion)
        .join(PromptLabel, PromptLabel.version_id == PromptVersion.id)
        .join(PromptTemplate, PromptTemplate.id == PromptLabel.template_id)
        .where(PromptTemplate.name.in_(templates), PromptLabel.name == label)
    ).all()
    return {name: _version_info(row, name) for name, row in rows}


def label_history(session: Session, template: str, label: str) -> list[LabelEventInfo]:
    tmpl = _template(session, template)
    events = session.scalars(
        select(LabelEvent)
        .where(LabelEvent.template_id == tmpl.id, LabelEvent.label == label)
        .order_by(LabelEvent.id)
    )
    return [
        LabelEventInfo(
            e.id, e.label, e.from_version_id, e.to_version_id, e.actor, e.reason, e.created_at
        )
        for e in events
    ]


def rollback_label(
    session: Session, template: str, label: str, actor: str = "", reason: str = "rollback"
) -> LabelInfo:
    """Move ``label`` back to the version it pointed at before its last move."""
    tmpl = _template(session, template)
    last = session.scalar(
        select(LabelEvent)
        .where(LabelEvent.template_id == tmpl.id, LabelEvent.label == label)
        .order_by(LabelEvent.id.desc())
        .limit(1)
    )
    if last is None or last.from_version_id is None:
        raise PromptStoreError(f"label {label!r} of {template!r} has no earlier version")
    return set_label(session, template, label, last.from_version_id, actor, reason)


def create_experiment(
    session: Session,
    name: str,
    template: str,
    arms: Sequence[tuple[str, int, float]],
) -> ExperimentInfo:
    """Create an active experiment with arms ``(name, version_id, weight)``."""
    tmpl = _template(session, template)
    if len(arms) < 1:
        raise PromptStoreError("an experiment needs at least one arm")
    if len({arm[0] for arm in arms}) != len(arms):
        raise PromptStoreError("arm names must be unique within an experiment")
    if sum(arm[2] for arm in arms) <= 0 or any(arm[2] < 0 for arm in arms):
        raise PromptStoreError("arm weights must be >= 0 and not all 0")
    if session.scalar(select(Experiment.id).where(Experiment.name == name)) is not None:
        raise PromptStoreError(f"an experiment named {name!r} already exists")
    for _arm_name, version_id, _weight in arms:
        version = session.get(PromptVersion, version_id)
        if version is None or version.template_id != tmpl.id:
            raise PromptStoreError(f"version id {version_id} is not a version of {template!r}")
    experiment = Experiment(name=name, template_id=tmpl.id, status="active", created_at=utcnow())
    session.add(experiment)
    session.flush()
    for arm_name, version_id, weight in arms:
        session.add(
            ExperimentArm(
                experiment_id=experiment.id,
                name=arm_name,
                version_id=version_id,
                weight=float(weight),
            )
        )
    bump_changes(session)
    session.flush()
    return _experiment_info(session, experiment, template)


def _experiment_info(session: Session, experiment: Experiment, template: str) -> ExperimentInfo:
    arms = session.scalars(
        select(ExperimentArm)
        .where(ExperimentArm.experiment_id == experiment.id)
        .order_by(ExperimentArm.id)
    )
    return ExperimentInfo(
        id=experiment.id,
        name=experiment.name,
        template=template,
        status=experiment.status,
        arms=tuple(ArmInfo(a.id, a.name, a.version_id, a.weight) for a in arms),
    )


def set_experiment_status(session: Session, name: str, status: str) -> ExperimentInfo:
    if status not in ("active", "stopped"):
        raise PromptStoreError("status must be 'active' or 'stopped'")
    experiment = session.scalar(select(Experiment).where(Experiment.name == name))
    if experiment is None:
        raise PromptStoreError(f"no experiment named {name!r}")
    if experiment.status != status:
        experiment.status = status
        bump_changes(session)
    session.flush()
    template = session.get(PromptTemplate, experiment.template_id)
    assert template is not None
    return _experiment_info(session, experiment, template.name)


def active_experiment(session: Session, template: str) -> ExperimentInfo | None:
    """The newest active experiment on ``template`` (None if there is none)."""
    experiment = session.scalar(
        select(Experiment)
        .join(PromptTemplate, PromptTemplate.id == Experiment.template_id)
        .where(PromptTemplate.name == template, Experiment.status == "active")
        .order_by(Experiment.id.desc())
        .limit(1)
    )
    return _experiment_info(session, experiment, template) if experiment else None


def list_templates(session: Session) -> list[dict[str, Any]]:
    """Every template by name: feature, version count, labels, any running experiment."""
    rows = []
    for tmpl in session.scalars(select(PromptTemplate).order_by(PromptTemplate.name)):
        versions = list_versions(session, tmpl.name)
        labels = {
            label: version
            for label, version in session.execute(
                select(PromptLabel.name, PromptVersion.version)
                .join(PromptVersion, PromptVersion.id == PromptLabel.version_id)
                .where(PromptLabel.template_id == tmpl.id)
            )
        }
        experiment = active_experiment(session, tmpl.name)
        rows.append(
            {
                "name": tmpl.name,
                "feature": versions[-1].config.get("feature", "") if versions else "",
                "versions": len(versions),
                "labels": labels,
                "experiment": (
                    {arm.name: arm.weight for arm in experiment.arms} if experiment else None
                ),
            }
        )
    return rows

"""The prompt library: versioned templates in the store, resolved by label or experiment arm.

Content lives in the store as immutable versions: the Jinja text is the body and every
other field is the config, so formatting or comment changes in a file make no new
version. Labels (``production``) move through the store's append-only event log, which
gives rollback. Built-in templates are seeded as version 1 labelled ``production``. When
a release changes one, it becomes a new version, and the label follows only if no one
else has moved it since. Resolutions are cached per process and dropped when the store's
prompt change counter moves, which also sees other processes' writes.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from codetune_lsp.prompts.template import (
    Action,
    Example,
    Params,
    PromptTemplate,
    TemplateInvalid,
    parse_template,
)

logger = logging.getLogger(__name__)

DEFAULT_LABEL = "production"
BUILTIN_ACTOR = "builtin"
_EXPERIMENT_SEP = "|"


@dataclass(frozen=True)
class Resolved:
    """The exact version an execution will use."""

    template: PromptTemplate
    version_id: int
    version: int
    label: str
    arm_id: int | None = None
    arm_name: str | None = None


@dataclass(frozen=True)
class ImportResult:
    name: str
    version: int
    version_id: int
    created: bool
    label_moved: bool


def to_version(template: PromptTemplate) -> tuple[str, dict[str, Any], str]:
    """(body, config, note) for the store; the content hash covers body and config."""
    config = template.canonical()
    body = config.pop("template")
    return body, config, template.notes


def from_version(body: str, config: dict[str, Any], note: str = "") -> PromptTemplate:
    """Rebuild a template from a stored version."""
    raw = config.get("params", {})
    defaults = Params()
    params = Params(  # canonical JSON may store 1.0 as 1: restore the types
        temperature=float(raw.get("temperature", defaults.temperature)),
        max_new_tokens=int(raw.get("max_new_tokens", defaults.max_new_tokens)),
        top_p=float(raw.get("top_p", defaults.top_p)),
        stop=tuple(raw.get("stop", ())),
    )
    action = config.get("action")
    return PromptTemplate(
        name=config["name"],
        feature=config["feature"],
        template=body,
        description=config.get("description", ""),
        notes=note,
        model=config.get("model", ""),
        system=config.get("system", ""),
        params=params,
        examples=tuple(Example(**e) for e in config.get("examples", [])),
        variables=dict(config.get("variables", {})),
        output=config.get("output", "text"),
        schema=config.get("schema"),
        action=(
            Action(**{**action, "languages": tuple(action.get("languages", ()))})
            if action
            else None
        ),
    )


def to_toml(template: PromptTemplate) -> str:
    """The template as a file that ``parse_template`` reads back to equal content."""
    data: dict[str, Any] = {
        "name": template.name,
        "feature": template.feature,
        "description": template.description,
        "notes": template.notes,
        "model": template.model,
        "output": template.output,
        "system": template.system,
        "template": template.template,
        "params": {
            "temperature": template.params.temperature,
            "max_new_tokens": template.params.max_new_tokens,
            "top_p": template.params.top_p,
            "stop": list(template.params.stop),
        },
        "variables": dict(template.variables),
    }
    if template.examples:
        data["examples"] = [{"input": e.input, "output": e.output} for e in template.examples]
    if template.action is not None:
        data["action"] = {
            "title": template.action.title,
            "kind": template.action.kind,
            "needs_selection": template.action.needs_selection,
            "languages": list(template.action.languages),
        }
    if template.schema is not None:
        data["schema"] = template.schema
    return tomli_w.dumps(data, multiline_strings=True)


def builtin_sources() -> list[tuple[str, str]]:
    """(file name, TOML text) of every built-in template shipped in the package."""
    folder = resources.files("codetune_lsp.prompts") / "builtin"
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def parse_or_raise(source: str, origin: str, *, check_content: bool = True) -> PromptTemplate:
    template, problems = parse_template(source, check_content=check_content)
    if template is None:
        raise TemplateInvalid([p for p in problems if p.severity == "error"], origin)
    return template


def experiment_name(template: str, label: str, serial: str) -> str:
    return f"{template}{_EXPERIMENT_SEP}{label}{_EXPERIMENT_SEP}{serial}"


def experiment_label(name: str) -> str:
    parts = name.split(_EXPERIMENT_SEP)
    return parts[1] if len(parts) == 3 else DEFAULT_LABEL


class PromptLibrary:
    """Versioned templates on top of a :class:`~codetune_lsp.store.Store`."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._seen_counter: int | None = None
        self._cache: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._templates: dict[int, PromptTemplate] = {}  # by version id, cleared with _cache

    # -- writing (blocking: CLI, start-up, or via asyncio.to_thread) ----------------------

    def seed_builtins(self, sources: Iterable[tuple[str, str]] | None = None) -> list[ImportResult]:
        """Make sure every built-in is stored; a changed built-in moves its label only if
        the label still points where the last seeding put it."""
        from codetune_lsp.store import prompts as repo

        shipped = sources is None  # the package's own files, validated in full by its tests
        templates = [
            parse_or_raise(text, f"built-in {file_name}", check_content=not shipped)
            for file_name, text in (builtin_sources() if shipped else sources)
        ]
        names = [template.name for template in templates]
        # Usually every built-in is already where its label points: one read settles that.
        current = self.store.read(lambda s: repo.resolve_labels(s, names, DEFAULT_LABEL))
        results = []
        for template in templates:
            found = current.get(template.name)
            if found is not None and found.content_hash == repo.content_hash(
                *to_version(template)[:2]
            ):
                results.append(ImportResult(template.name, found.version, found.id, False, False))
            else:
                results.append(self._store_version(template, actor=BUILTIN_ACTOR, follow=True))
        return results

    def import_source(self, text: str, origin: str, *, move_label: bool = True) -> ImportResult:
        """Store a template from TOML text; move ``production`` to it when it changed."""
        template = parse_or_raise(text, origin)
        return self._store_version(template, actor=f"file:{origin}", follow=move_label)

    def import_path(self, path: Path) -> list[ImportResult]:
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        return [self.import_source(f.read_text(encoding="utf-8"), str(f)) for f in files]

    def _store_version(self, template: PromptTemplate, actor: str, follow: bool) -> ImportResult:
        body, config, note = to_version(template)
        from codetune_lsp.store import prompts as repo

        # Usually (every start, for the built-ins) the label already points at this content:
        # then a read settles it and the write transaction below would change nothing.
        digest = repo.content_hash(body, config)
        current = self.store.read(lambda s: repo.resolve_label(s, template.name, DEFAULT_LABEL))
        if current is not None and current.content_hash == digest:
            return ImportResult(template.name, current.version, current.id, False, False)

        def write(session: Any) -> ImportResult:
            try:
                before = {v.id for v in repo.list_versions(session, template.name)}
            except repo.PromptStoreError:  # a template stored for the first time
                before = set()
            version = repo.create_version(session, template.name, body, config, note)
            created = version.id not in before
            current = repo.resolve_label(session, template.name, DEFAULT_LABEL)
            moved = False
            if current is None:
                repo.set_label(session, template.name, DEFAULT_LABEL, version.id, actor, "first")
                moved = True
            elif (
                follow
                and current.id != version.id
                and self._may_move(session, template.name, actor)
            ):
                repo.set_label(session, template.name, DEFAULT_LABEL, version.id, actor, "update")
                moved = True
            return ImportResult(template.name, version.version, version.id, created, moved)

        return self.store.write(write)

    @staticmethod
    def _may_move(session: Any, name: str, actor: str) -> bool:
        """Built-in updates only move a label that the built-in seeding placed last."""
        if actor != BUILTIN_ACTOR:
            return True
        from codetune_lsp.store import prompts as repo

        events = repo.label_history(session, name, DEFAULT_LABEL)
        return not events or events[-1].actor == BUILTIN_ACTOR

    def deploy(
        self,
        name: str,
        version: int,
        label: str = DEFAULT_LABEL,
        actor: str = "cli",
        reason: str = "deploy",
    ) -> Any:
        from codetune_lsp.store import prompts as repo

        def write(session: Any) -> Any:
            found = repo.find_version(session, name, version)
            if found is None:
                raise repo.PromptStoreError(f"{name} has no version {version}")
            return repo.set_label(session, name, label, found.id, actor, reason)

        return self.store.write(write)

    def rollback(self, name: str, label: str = DEFAULT_LABEL, actor: str = "cli") -> Any:
        from codetune_lsp.store import prompts as repo

        return self.store.write(lambda s: repo.rollback_label(s, name, label, actor))

    def start_experiment(
        self, name: str, arms: list[tuple[int, float]], label: str = DEFAULT_LABEL
    ) -> Any:
        """Split ``label``'s traffic between versions by weight until stopped."""
        from codetune_lsp.store import new_ulid
        from codetune_lsp.store import prompts as repo

        def write(session: Any) -> Any:
            if repo.active_experiment(session, name) is not None:
                raise repo.PromptStoreError(f"{name} already has a running experiment")
            resolved = []
            for version, weight in arms:
                found = repo.find_version(session, name, version)
                if found is None:
                    raise repo.PromptStoreError(f"{name} has no version {version}")
                resolved.append((f"v{version}", found.id, weight))
            unique = experiment_name(name, label, new_ulid())
            return repo.create_experiment(session, unique, name, resolved)

        return self.store.write(write)

    def stop_experiment(self, name: str, winner: int | None = None) -> Any:
        from codetune_lsp.store import prompts as repo

        def write(session: Any) -> Any:
            running = repo.active_experiment(session, name)
            if running is None:
                raise repo.PromptStoreError(f"{name} has no running experiment")
            stopped = repo.set_experiment_status(session, running.name, "stopped")
            if winner is not None:
                found = repo.find_version(session, name, winner)
                if found is None:
                    raise repo.PromptStoreError(f"{name} has no version {winner}")
                label = experiment_label(running.name)
                repo.set_label(session, name, label, found.id, "experiment", "winner")
            return stopped

        return self.store.write(write)

    # -- reading ------------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        """Every template: feature, number of versions, labels and any running experiment."""
        from codetune_lsp.store import prompts as repo

        return self.store.read(repo.list_templates)

    def get(self, name: str, version: int | None = None, label: str | None = None) -> Resolved:
        """A stored version by number, or what ``label`` (default production) points at."""
        from codetune_lsp.store import prompts as repo

        def read(session: Any) -> Resolved:
            if version is not None:
                found = repo.find_version(session, name, version)
                where = f"version {version}"
            else:
                found = repo.resolve_label(session, name, label or DEFAULT_LABEL)
                where = f"label {label or DEFAULT_LABEL!r}"
            if found is None:
                raise repo.PromptStoreError(f"{name} has no {where}")
            template = from_version(found.body, found.config, found.note)
            return Resolved(template, found.id, found.version, label or "")

        return self.store.read(read)

    def diff(self, name: str, old: int, new: int) -> str:
        """A unified diff of the two versions' template text, then field-by-field changes."""
        a, b = self.get(name, old).template, self.get(name, new).template
        lines = list(
            difflib.unified_diff(
                a.template.splitlines(keepends=True),
                b.template.splitlines(keepends=True),
                f"{name}@{old}",
                f"{name}@{new}",
            )
        )
        if a.system != b.system:
            lines += difflib.unified_diff(
                a.system.splitlines(keepends=True),
                b.system.splitlines(keepends=True),
                f"{name}@{old} system",
                f"{name}@{new} system",
            )
        fields_a, fields_b = a.canonical(), b.canonical()
        for key in sorted(set(fields_a) | set(fields_b)):
            if key in ("template", "system"):
                continue
            before, after = fields_a.get(key), fields_b.get(key)
            if isinstance(before, dict) and isinstance(after, dict):
                for sub in sorted(set(before) | set(after)):
                    if before.get(sub) != after.get(sub):
                        lines.append(f"{key}.{sub}: {before.get(sub)!r} -> {after.get(sub)!r}\n")
            elif before != after:
                lines.append(f"{key}: {before!r} -> {after!r}\n")
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def export(self, directory: Path) -> list[Path]:
        """Write what ``production`` points at for every template, as TOML files."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for row in self.list():
            if DEFAULT_LABEL not in row["labels"]:
                continue
            template = self.get(row["name"]).template
            path = directory / f"{template.name}.toml"
            path.write_text(to_toml(template), encoding="utf-8")
            written.append(path)
        return written

    async def resolve(self, name: str, label: str, unit_key: str) -> Resolved:
        """The version to run for ``name``@``label``; an active experiment picks a sticky
        arm for ``unit_key``. Cached until any process changes prompts."""
        from codetune_lsp.store import prompts as repo

        counter = await self.store.aprompt_change_counter()
        if counter != self._seen_counter:
            self._cache.clear()
            self._templates.clear()
            self._seen_counter = counter
        key = (name, label)
        if key not in self._cache:

            def read(session: Any) -> tuple[Any, Any]:
                found = repo.resolve_label(session, name, label)
                running = repo.active_experiment(session, name)
                if running is not None and experiment_label(running.name) != label:
                    running = None
                arms = {}
                if running is not None:
                    for arm in running.arms:
                        info = repo.get_version(session, arm.version_id)
                        if info is not None:
                            arms[arm.id] = info
                return found, (running, arms)

            self._cache[key] = await self.store.aread(read)
        found, (running, arm_versions) = self._cache[key]
        if running is not None:
            arm = repo.choose_arm(running, unit_key)
            info = arm_versions[arm.id]
            template = self._template(info)
            return Resolved(template, info.id, info.version, label, arm.id, arm.name)
        if found is None:
            raise repo.PromptStoreError(
                f"prompt template {name!r} has no {label!r} version; "
                f"deploy one with `codetune-lsp prompts deploy {name} VERSION --label {label}`"
            )
        return Resolved(self._template(found), found.id, found.version, label)

    def _template(self, info: Any) -> PromptTemplate:
        """The template of a stored version, built once per version (versions are immutable)."""
        template = self._templates.get(info.id)
        if template is None:
            template = self._templates[info.id] = from_version(info.body, info.config, info.note)
        return template

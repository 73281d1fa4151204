"""The long-lived parts behind the features: store, prompt library and engine.

Opening them blocks (migrations, seeding), so the server does it off the event loop from
``initialize`` on, and ``codetune-lsp check`` does it before it starts.

The server opens them in two stages (:class:`Opening`), because the store's stage costs
about 300 ms of CPU (SQLAlchemy and its ORM tables, migrations, seeding) that a first
completion does not need. The early stage builds the engine and the completion model's
backend, with a :class:`HeldStore` that keeps writes in memory and an :class:`EarlyLibrary`
that reads labels straight from the SQLite file where that is provably what the open store
would say. The full stage opens the store; ``attach`` then writes the held rows, in order,
and gives the engine the real store and library. See docs/decisions.md.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codetune_lsp.paths import Paths
from codetune_lsp.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Services:
    store: Any
    library: Any
    engine: Any
    problems: list[str] = field(default_factory=list)

    async def aclose(self) -> None:
        await self.engine.aclose()
        await self.store.aclose()


def import_prompt_dir(library: Any, directory: Path) -> list[str]:
    """Import every template file in ``directory``; return one line per broken file.

    A broken file (not UTF-8, invalid, or failing in any other way) is skipped: the others
    and the built-ins keep working."""
    from codetune_lsp.prompts.template import TemplateInvalid

    problems = []
    if not directory.is_dir():
        return problems
    for path in sorted(directory.glob("*.toml")):
        try:
            library.import_source(_read_utf8(path), str(path))
        except TemplateInvalid as exc:
            problems.append(f"prompt template {exc} (file ignored until fixed)")
        except UnicodeDecodeError as exc:
            line = exc.object[: exc.start].count(b"\n") + 1
            byte = exc.object[exc.start]
            problems.append(
                f"prompt template {path}:{line}: not valid UTF-8 (byte 0x{byte:02x}) "
                "(file ignored until fixed)"
            )
        except OSError as exc:
            problems.append(f"prompt template {path}: cannot be read: {exc.strerror}")
        except Exception as exc:  # one bad file must never stop the rest
            logger.warning("prompt template %s failed to load", path, exc_info=True)
            problems.append(
                f"prompt template {path}: cannot be loaded ({type(exc).__name__}) "
                "(file ignored until fixed)"
            )
    return problems


def _read_utf8(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def open_services(settings: Settings, paths: Paths, backend_factory: Any = None) -> Services:
    """Open the store (migrating it), seed and import templates, build the engine."""
    return Opening(settings, paths, backend_factory).full()


def _import_backend_module(settings: Settings) -> None:
    """Import the completion model's backend module here, off the event loop, so the first
    completion does not pay for it (an HTTP client stack is ~100 ms of imports)."""
    from codetune_lsp.models.registry import _load, available_backends

    profile = settings.models.get(settings.features.completion.model)
    target = available_backends().get(profile.backend) if profile is not None else None
    if target is not None:
        try:
            _load(target)
        except Exception:  # reported properly when the backend is first created
            logger.debug("backend module %s did not import", target, exc_info=True)


# -- opening in two stages (the server) --------------------------------------------------


class Opening:
    """Opens the services on a worker thread in two stages: ``early`` (engine, backend,
    held writes, labels read from the file), then ``full`` (the store, its library); on the
    event loop, ``attach`` hands the full stage's store and library to the early engine."""

    def __init__(
        self,
        settings: Settings,
        paths: Paths,
        backend_factory: Any = None,
        prompt_dirs: Sequence[Path] = (),
        later: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.later = later  # the real prompt library, once the store is open
        self.paths = paths
        self.backend_factory = backend_factory
        # Template folders (beyond the user's) that the server imports once the store is
        # open: a file there may move a label, so no label is read early while one exists.
        self.prompt_dirs = tuple(prompt_dirs)
        self.engine: Any = None
        self.held: HeldStore | None = None

    def early_or_none(self) -> Services | None:
        """The early stage, for a worker thread; None when it could not be built (the full
        stage then reports what is really wrong)."""
        try:
            return self.early()
        except Exception:
            logger.warning("the early start-up stage failed", exc_info=True)
            return None

    def early(self) -> Services:
        from codetune_lsp.engine import Engine
        from codetune_lsp.models.registry import create_backend

        reader = early_reader(self.settings, self.paths, self.prompt_dirs)
        self.held = HeldStore(self.settings.store, reader)
        library = EarlyLibrary(reader, builtin_hashes() if reader is not None else {}, self.later)
        self.engine = Engine(
            self.settings, self.held, library, self.backend_factory or create_backend
        )
        _prepare_completion(self.engine, library, self.settings)
        return Services(self.held, library, self.engine)

    def full(self) -> Services:
        from codetune_lsp.engine import Engine
        from codetune_lsp.models.registry import create_backend
        from codetune_lsp.prompts.library import PromptLibrary
        from codetune_lsp.store import open_store

        store = open_store(self.settings, self.paths)
        try:
            library = PromptLibrary(store)
            library.seed_builtins()
            problems = import_prompt_dir(library, self.paths.user_prompts_dir)
            engine = self.engine or Engine(
                self.settings, store, library, self.backend_factory or create_backend
            )
            if self.engine is None:
                _import_backend_module(self.settings)
        except BaseException:
            store.close()
            raise
        for problem in problems:
            logger.warning("%s", problem)
        return Services(store, library, engine, problems)

    def attach(self, full: Services) -> None:
        """On the event loop, once ``full`` is open: the engine gets the real store and
        library, and the writes held so far go to the store, in the order they were made."""
        if full.engine is self.engine:
            self.engine.store = full.store
            self.engine.library = full.library
        if self.held is not None:
            self.held.attach(full.store)

    def fail(self, exc: BaseException) -> int:
        """The store cannot be opened: the held writes fail with its error; their number."""
        return self.held.fail(exc) if self.held is not None else 0


def early_reader(settings: Settings, paths: Paths, prompt_dirs: Sequence[Path] = ()) -> Any:
    """A read-only view of the store's SQLite file when reading labels from it is provably
    what the open store would say; None otherwise (the caller waits for the store).

    Not provable: a configured ``store.url`` (another database, or a file elsewhere that
    the open may refuse), no file yet (the first start creates and seeds it), a schema
    behind or ahead of this code's (migrations run at open), or template files that the
    open imports (each may move a label)."""
    import sqlite3

    from codetune_lsp.store.quick import QuickReader
    from codetune_lsp.store.revisions import head_revision

    if settings.store.url or not paths.default_database.is_file():
        return None
    for folder in (paths.user_prompts_dir, *prompt_dirs):
        if folder.is_dir() and any(folder.glob("*.toml")):
            return None
    reader = QuickReader(str(paths.default_database))
    try:
        if reader.schema_revision() == head_revision():
            return reader
    except sqlite3.Error as exc:
        logger.info("the store file cannot be read before it is opened: %s", exc)
    reader.close()
    return None


def builtin_hashes() -> dict[str, str]:
    """The content hash of each shipped built-in template, by name: a label that the
    built-in seeding placed and that points elsewhere is moved when the store opens."""
    from codetune_lsp.prompts.library import builtin_sources, parse_or_raise, to_version
    from codetune_lsp.store.prompt_info import content_hash

    hashes = {}
    for file_name, text in builtin_sources():
        template = parse_or_raise(text, f"built-in {file_name}", check_content=False)
        hashes[template.name] = content_hash(*to_version(template)[:2])
    return hashes


def _prepare_completion(engine: Any, library: EarlyLibrary, settings: Settings) -> None:
    """Do here, off the event loop, what a first completion would otherwise do on it:
    create the model's backend (an HTTP client loads the CA bundle, ~30 ms) and import
    what its first request would, compile the template it will render, import the text
    post-processing."""
    from codetune_lsp.prompts.completion_text import CHAT_TEMPLATE
    from codetune_lsp.prompts.render import compile_ahead

    completion = settings.features.completion
    try:
        backend = engine.backend(completion.model)
        prepare = getattr(backend, "prepare", None)
        if prepare is not None:
            prepare()
        fim = backend.info().fim_format is not None
        found = library.readable(completion.template if fim else CHAT_TEMPLATE, completion.label)
        if found is not None:
            template = library.template_of(found)
            compile_ahead(template.template)
            if template.system:
                compile_ahead(template.system)
    except Exception:  # reported properly when a feature first uses it
        logger.debug("the completion model could not be prepared", exc_info=True)


class HeldStore:
    """The store's write side before it is open: each write is kept in memory, in order,
    and handed to the store by ``attach``; its :class:`Pending` (with its execution id at
    once) resolves when the store commits it. Cache lookups read the file directly.

    Once attached, everything goes straight to the store."""

    def __init__(self, settings: Any, reader: Any = None) -> None:
        from codetune_lsp.store.cache_policy import CacheCounters, CachePolicy
        from codetune_lsp.store.ids import new_ulid
        from codetune_lsp.store.pending import Pending

        self._new_id, self._pending = new_ulid, Pending  # imported here, off the event loop
        self.settings = settings
        self.cache_policy = CachePolicy.from_settings(settings)
        self.cache_counters = CacheCounters()
        self._reader = reader
        self._held: list[tuple[Callable[[Any], Any], Future[Any]]] = []
        self._store: Any = None
        self._error: BaseException | None = None

    @property
    def held(self) -> int:
        """Writes waiting for the store."""
        return len(self._held)

    def _hold(self, write: Callable[[Any], Any], id: str | None = None) -> Any:
        if self._error is not None:
            raise self._error
        future: Future[Any] = Future()
        self._held.append((write, future))
        return self._pending(future, id, self._hurry)

    def _hurry(self) -> None:
        """Someone waits for a held write: once attached, the store writes without a pause."""
        if self._store is not None:
            self._store.writer.hurry()

    def attach(self, store: Any) -> None:
        """Write what was held, in order, then hand every call to ``store``."""
        held, self._held = self._held, []
        self._store = store
        for write, future in held:
            try:
                pending = write(store)
            except Exception as exc:
                future.set_exception(exc)
                continue
            pending.future.add_done_callback(functools.partial(_copy_outcome, future))
        if self._reader is not None:
            self._reader.close()

    def fail(self, exc: BaseException) -> int:
        held, self._held = self._held, []
        self._error = exc
        for _, future in held:
            future.set_exception(exc)
        return len(held)

    def __getattr__(self, name: str) -> Any:
        store = self.__dict__.get("_store")
        if store is None:
            raise AttributeError(f"the store is not open yet (HeldStore.{name})")
        return getattr(store, name)

    # -- the writes the engine and the completion feature make ---------------------------

    def record_execution(self, record: Any) -> Any:
        if self._store is not None:
            return self._store.record_execution(record)
        record.validate()
        execution_id = self._new_id()
        stamped = record.replace(created_at=record.created_at or datetime.now(UTC))
        return self._hold(
            lambda store: store.record_execution(stamped, execution_id=execution_id),
            execution_id,
        )

    def record_cache_hit(self, record: Any, cached: Any) -> Any:
        if self._store is not None:
            return self._store.record_cache_hit(record, cached)
        return self.record_execution(record.as_cache_hit(cached))

    def add_feedback(self, execution_id: str, kind: str, **details: Any) -> Any:
        if self._store is not None:
            return self._store.add_feedback(execution_id, kind, **details)
        return self._hold(lambda store: store.add_feedback(execution_id, kind, **details))

    def cache_put(self, request: Any, response: Any, *, success: bool = True) -> Any:
        if self._store is not None:
            return self._store.cache_put(request, response, success=success)
        return self._hold(lambda store: store.cache_put(request, response, success=success))

    async def cache_get(self, request: Any) -> Any:
        """The store's lookup, on the file: counted, and its LRU touch held."""
        if self._store is not None:
            return await self._store.cache_get(request)
        if self._reader is None or self.cache_policy.bypass_reason(request):
            self.cache_counters.add("bypassed")
            return None
        now = datetime.now(UTC)
        found = self._reader.cache_lookup(request.key, now)
        if found is None:
            self.cache_counters.add("misses")
            return None
        self.cache_counters.add("hits")
        key = request.key
        self._hold(lambda store: store.touch_cache(key, now))
        return found

    def flush(self) -> Any:
        if self._store is not None:
            return self._store.flush()
        return self._hold(lambda store: store.flush())


def _copy_outcome(target: Future[Any], source: Future[Any]) -> None:
    exc = source.exception()
    if exc is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


class EarlyLibrary:
    """The prompt library's ``resolve`` before the store is open, for a label that the open
    cannot move: read from the file (see ``early_reader``). Anything else (no reader, an
    experiment running, a label the built-in seeding would move) waits for the real
    library, which ``later`` returns."""

    def __init__(
        self,
        reader: Any,
        builtins: Mapping[str, str],
        later: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self._reader = reader
        self._builtins = dict(builtins)
        self.later = later
        self._templates: dict[int, Any] = {}

    def readable(self, name: str, label: str) -> Any:
        """The version ``label`` points at when the open store provably says the same."""
        import sqlite3

        from codetune_lsp.prompts.library import BUILTIN_ACTOR, DEFAULT_LABEL

        if self._reader is None:
            return None
        try:
            if self._reader.has_active_experiment(name):
                return None  # the real library picks the unit's arm
            found = self._reader.resolve_label(name, label)
            if found is None:
                return None  # the seeding may create it
            shipped = self._builtins.get(name)
            if label == DEFAULT_LABEL and shipped is not None and found.content_hash != shipped:
                # A changed built-in moves the label unless someone else moved it last.
                last = self._reader.last_label_actor(name, label)
                if last is None or last == BUILTIN_ACTOR:
                    return None
            return found
        except sqlite3.Error as exc:
            logger.info("label %s@%s not read early: %s", name, label, exc)
            return None

    async def resolve(self, name: str, label: str, unit_key: str) -> Any:
        from codetune_lsp.prompts.library import Resolved

        found = self.readable(name, label)
        if found is None:
            if self.later is None:
                raise RuntimeError("the prompt library is not open yet")
            library = await self.later()
            return await library.resolve(name, label, unit_key)
        return Resolved(self.template_of(found), found.id, found.version, label)

    def template_of(self, found: Any) -> Any:
        """The template of a stored version, built once (versions are immutable)."""
        from codetune_lsp.prompts.library import from_version

        template = self._templates.get(found.id)
        if template is None:
            template = self._templates[found.id] = from_version(
                found.body, found.config, found.note
            )
        return template

"""Apply the store's Alembic migrations programmatically, serialized across processes.

No ``alembic.ini`` is needed: the script location is this package's ``migrations`` folder.
Many processes may start at once on an empty or old database; exactly one migrates while the
others wait, then find the schema at head and go on:

* SQLite: an exclusive ``flock`` on ``<db>.migrate.lock`` and, inside it, the whole upgrade in
  one ``BEGIN IMMEDIATE`` transaction (SQLite DDL is transactional, so a killed migration
  leaves the old schema). Foreign-key enforcement is off during the upgrade because batch
  mode recreates tables, and ``PRAGMA foreign_key_check`` must be clean before the commit.
* PostgreSQL: the upgrade runs in one transaction holding ``pg_advisory_xact_lock``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from codetune_lsp.store.db import read_transaction, sqlite_path
from codetune_lsp.store.revisions import (
    MIGRATIONS_DIR,
    all_revisions,
    head_revision,
)

try:  # POSIX only; elsewhere BEGIN IMMEDIATE alone serializes SQLite migrations
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

PG_LOCK_KEY = 0x636F_6465_7475_6E65  # "codetune"
LOCK_TIMEOUT_S = 300.0


class SchemaError(RuntimeError):
    """The database schema cannot be brought to what this version of the code expects."""


def alembic_config() -> Config:
    """An in-memory Alembic config pointing at the packaged migrations."""
    from alembic.config import Config  # imported only when migrating (it is slow to import)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def _revision_of(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise SchemaError(f"the store database has several schema heads: {rows}")
    return rows[0] if rows else None


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with read_transaction(engine) as conn:
        return _revision_of(conn)


@contextmanager
def _file_lock(path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SchemaError(
                        f"another process has held the migration lock {path} for over "
                        f"{timeout_s:.0f} s"
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in all_revisions():
        raise SchemaError(
            f"the store database is at schema revision {revision!r}, which this version of "
            "codetune-lsp does not know (it was written by a newer version). Upgrade "
            "codetune-lsp, or point store.url at another database."
        )


def upgrade(engine: Engine, revision: str = "head") -> bool:
    """Bring the database to ``revision``; return True when this call changed the schema."""
    target = head_revision() if revision == "head" else revision
    current = current_revision(engine)
    _check_known(current)
    if current == target:
        return False
    db_file = sqlite_path(str(engine.url))
    if db_file is not None:
        with _file_lock(db_file.with_name(db_file.name + ".migrate.lock")):
            return _upgrade_locked(engine, target)
    return _upgrade_locked(engine, target)


def _upgrade_locked(engine: Engine, target: str) -> bool:
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if sqlite else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys = OFF")  # only effective outside a transaction
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
                before = _revision_of(conn)
                _check_known(before)
                if before == target:
                    return False
                from alembic import command

                config = alembic_config()
                config.attributes["connection"] = conn
                log.info("migrating the store from %s to %s", before or "empty", target)
                command.upgrade(config, target)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise SchemaError(f"migration left broken foreign keys: {broken[:5]}")
            return True
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys = ON")

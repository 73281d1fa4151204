"""Engines for the store: SQLite tuned for many processes, or PostgreSQL.

SQLite: WAL, ``busy_timeout`` of 10 s, foreign keys on, ``synchronous`` NORMAL (or FULL), the
file created with mode 0600, and every transaction opened by us rather than by pysqlite: write
transactions with ``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers queue on
the busy handler instead of failing with a deadlock on lock upgrade), read transactions (the
engine returned by :func:`read_only`) with a plain deferred ``BEGIN``. A warning is logged when the
file lives on a network filesystem, where SQLite's locking is unreliable.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from codetune_lsp.paths import Paths
from codetune_lsp.settings import StoreSettings

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
READ_ONLY_OPTION = "codetune_read_only"
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "sshfs",
        "fuse.sshfs",
        "afs",
        "9p",
        "ceph",
        "fuse.ceph",
        "glusterfs",
        "fuse.glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "fuse.davfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.juicefs",
    }
)


def database_url(settings: StoreSettings, paths: Paths) -> str:
    """The SQLAlchemy URL to use: ``store.url``, else the SQLite file in the data dir."""
    if settings.url:
        return settings.url
    return f"sqlite:///{paths.default_database}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases or in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def network_filesystem(path: Path, mounts: str | None = None) -> str | None:
    """The filesystem type when ``path`` is on a network filesystem, else None.

    ``mounts`` is the text of ``/proc/mounts`` (read when not given; None where it is absent).
    """
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = os.path.realpath(path)
    best, best_type = "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        prefix = mount_point.rstrip("/") + "/"
        if (target == mount_point or target.startswith(prefix) or mount_point == "/") and len(
            mount_point
        ) >= len(best):
            best, best_type = mount_point, fields[2]
    if best_type.lower() in NETWORK_FILESYSTEMS:
        return best_type
    return None


def prepare_sqlite_file(path: Path) -> None:
    """Create the directory (0700) and the database file (0600); tighten an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            try:
                os.fchmod(fd, 0o600)
            except OSError as exc:  # pragma: no cover - a file owned by someone else
                log.warning("cannot make %s private (mode 0600): %s", path, exc)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        try:
            if extra.stat().st_mode & 0o077:
                extra.chmod(0o600)
        except OSError:
            pass
    fs_type = network_filesystem(path)
    if fs_type:
        log.warning(
            "the store database %s is on a network filesystem (%s); SQLite locking is not "
            "reliable there and data may be corrupted. Move CODETUNE_HOME to a local disk or "
            "use PostgreSQL (store.url).",
            path,
            fs_type,
        )


def _set_wal(dbapi_connection: sqlite3.Connection) -> None:
    cursor = dbapi_connection.cursor()
    try:
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while str(mode).lower() != "wal":
            try:
                mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    finally:
        cursor.close()


def make_engine(url: str, *, synchronous: str = "NORMAL", echo: bool = False) -> Engine:
    """Create an engine for ``url`` with the store's connection rules applied."""
    path = sqlite_path(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        if path is not None:
            prepare_sqlite_file(path)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        sync_mode = "FULL" if synchronous.upper() == "FULL" else "NORMAL"

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
            # Take transaction control away from pysqlite; the "begin" hook emits BEGIN.
            dbapi_connection.isolation_level = None
            dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            dbapi_connection.execute("PRAGMA foreign_keys = ON")
            if path is not None:
                _set_wal(dbapi_connection)
            dbapi_connection.execute(f"PRAGMA synchronous = {sync_mode}")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if conn.get_execution_options().get(READ_ONLY_OPTION):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def read_only(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions are read transactions (deferred on SQLite)."""
    return engine.execution_options(**{READ_ONLY_OPTION: True})


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on exit."""
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection inside a read transaction: one consistent snapshot, never blocks writers."""
    with read_only(engine).connect() as conn, conn.begin():
        yield conn

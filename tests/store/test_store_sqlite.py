"""SQLite set up for many processes: pragmas, file modes, BEGIN IMMEDIATE, readers vs writers,
network filesystem warning."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from codetune_lsp.paths import Paths
from codetune_lsp.settings import Settings, StoreSettings
from codetune_lsp.store import db as db_module
from codetune_lsp.store import open_store
from codetune_lsp.store.db import (
    database_url,
    make_engine,
    network_filesystem,
    read_transaction,
    write_transaction,
)
from codetune_lsp.store.tables import Execution
from tests.store.conftest import make_record


def _pragma(engine, name: str):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_default_database_is_the_file_in_the_data_dir(paths: Paths) -> None:
    assert database_url(StoreSettings(), paths) == f"sqlite:///{paths.default_database}"
    assert database_url(StoreSettings(url="postgresql+psycopg://x/y"), paths).startswith(
        "postgresql"
    )
    store = open_store(Settings(), paths)
    try:
        store.record_execution(make_record()).result(timeout=10)
        assert paths.default_database.exists()
    finally:
        store.close()
    assert stat.S_IMODE(paths.data_dir.stat().st_mode) == 0o700


def test_pragmas_for_many_processes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    assert _pragma(engine, "journal_mode") == "wal"
    assert _pragma(engine, "busy_timeout") >= 5000
    assert _pragma(engine, "foreign_keys") == 1
    assert _pragma(engine, "synchronous") == 1  # NORMAL
    engine.dispose()
    full = make_engine(f"sqlite:///{tmp_path / 'b.db'}", synchronous="FULL")
    assert _pragma(full, "synchronous") == 2  # FULL
    full.dispose()


def test_synchronous_full_from_settings(tmp_path: Path, paths: Paths) -> None:
    store = open_store(
        StoreSettings(url=f"sqlite:///{tmp_path / 'f.db'}", synchronous="FULL"), paths
    )
    try:
        assert _pragma(store.db_engine, "synchronous") == 2
    finally:
        store.close()


def test_database_files_are_private(tmp_path: Path, paths: Paths) -> None:
    old_umask = os.umask(0o022)
    try:
        db = tmp_path / "private" / "store.db"
        store = open_store(StoreSettings(url=f"sqlite:///{db}"), paths)
        store.record_execution(make_record()).result(timeout=10)
        for path in (db, db.with_name("store.db-wal"), db.with_name("store.db-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        store.close()
        db.chmod(0o644)  # an existing file that is too open gets tightened
        make_engine(f"sqlite:///{db}").dispose()
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)


def test_write_transactions_begin_immediate_and_reads_deferred(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda c, cur, stmt, *a: seen.append(stmt))
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with read_transaction(engine) as conn:
        conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
    begins = [s for s in seen if s.startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]
    engine.dispose()


def test_writer_queues_behind_another_writer_instead_of_failing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    other = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    holding = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            holding.set()
            time.sleep(0.5)
        done.set()

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(5)
    started = time.monotonic()
    with write_transaction(other) as conn:  # waits on busy_timeout, then succeeds
        assert done.is_set()
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    assert time.monotonic() - started >= 0.3
    thread.join()
    with read_transaction(other) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    engine.dispose()
    other.dispose()


def test_readers_do_not_wait_for_a_writer(tmp_path: Path, paths: Paths) -> None:
    store = open_store(StoreSettings(url=f"sqlite:///{tmp_path / 'a.db'}"), paths)
    store.record_execution(make_record()).result(timeout=10)
    holding = threading.Event()
    release = threading.Event()

    def hold(session) -> None:  # type: ignore[no-untyped-def]
        session.connection().exec_driver_sql(
            "INSERT INTO executions (id, created_at, feature, backend, model_profile, model_id,"
            " params_hash, success, cache_hit) VALUES ('X', '2026-01-01', 'f', 'b', 'p', 'm',"
            " 'h', 1, 0)"
        )
        holding.set()
        release.wait(10)

    pending = store.submit(hold)
    assert holding.wait(10)
    started = time.monotonic()
    count = store.read(lambda s: s.scalar(select(func.count()).select_from(Execution)))
    assert time.monotonic() - started < 0.5
    assert count == 1  # the uncommitted row is not visible
    release.set()
    pending.result(timeout=10)
    assert store.read(lambda s: s.scalar(select(func.count()).select_from(Execution))) == 2
    store.close()


MOUNTS = """\
/dev/vda1 / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
server:/export /mnt/nfs nfs4 rw,relatime 0 0
//nas/share /mnt/smb cifs rw 0 0
me@host:/data /home/me/remote fuse.sshfs rw 0 0
/dev/vdb1 /mnt/nfs/local ext4 rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/home/me/project/codetune.db", None),
        ("/mnt/nfs/team/codetune.db", "nfs4"),
        ("/mnt/smb/codetune.db", "cifs"),
        ("/home/me/remote/x/codetune.db", "fuse.sshfs"),
        ("/mnt/nfs/local/codetune.db", None),  # a local disk mounted below the NFS share
        ("/mnt/nfsother/codetune.db", None),  # a prefix of the name is not a parent
    ],
)
def test_network_filesystem_detection(path: str, expected: str | None) -> None:
    assert network_filesystem(Path(path), MOUNTS) == expected


def test_network_filesystem_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(db_module, "network_filesystem", lambda path, mounts=None: "nfs")
    with caplog.at_level(logging.WARNING, logger="codetune_lsp.store.db"):
        make_engine(f"sqlite:///{tmp_path / 'a.db'}").dispose()
    assert any("network filesystem (nfs)" in r.getMessage() for r in caplog.records)
    caplog.clear()
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING, logger="codetune_lsp.store.db"):
        make_engine(f"sqlite:///{tmp_path / 'b.db'}").dispose()
    assert not caplog.records

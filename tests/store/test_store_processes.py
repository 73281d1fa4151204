"""Many processes on one store: concurrent writers, writers killed with SIGKILL, concurrent
migrations. These run real child processes against a real database file."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from codetune_lsp.store.db import make_engine
from codetune_lsp.store.migrate import head_revision, upgrade
from codetune_lsp.store.tables import Execution
from tests.store.conftest import REPO_ROOT, worker_env

WORKER = [sys.executable, "-m", "tests.store.workers"]


def _spawn(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = worker_env()
    return subprocess.Popen(
        [*WORKER, *args],
        cwd=REPO_ROOT if cwd is None else cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Execution)).scalar_one())
    finally:
        engine.dispose()


def _run_writers(url: str, tmp_path: Path, processes: int, each: int) -> None:
    children = [_spawn(["record", url, str(each)], tmp_path) for _ in range(processes)]
    for child in children:
        out, err = child.communicate(timeout=150)
        assert child.returncode == 0, err
        assert out.strip() == f"ok {each}", (out, err)


@pytest.mark.timeout(180)
def test_four_processes_write_4000_rows_without_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'store.db'}"
    _run_writers(url, tmp_path, processes=4, each=1000)
    assert _count(url) == 4000
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        ids = conn.execute(select(Execution.id)).scalars().all()
    engine.dispose()
    assert len(set(ids)) == 4000


@pytest.mark.timeout(180)
def test_four_processes_write_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    _run_writers(pg_url, tmp_path, processes=4, each=1000)
    assert _count(pg_url) == 4000


@pytest.mark.timeout(240)
def test_sigkilled_writers_lose_no_acknowledged_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'store.db'}"
    rng = random.Random(1234)
    acknowledged: list[str] = []
    kills = 0
    for round_no in range(22):
        child = _spawn(["acked", url], tmp_path)
        lines: list[str] = []
        ready = threading.Event()

        def pump(stream=child.stdout, lines=lines, ready=ready) -> None:  # type: ignore[no-untyped-def]
            assert stream is not None
            for line in stream:
                if line.strip() == "ready":
                    ready.set()
                else:
                    lines.append(line.strip())

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        if round_no % 4 == 0:
            # Kill early: during start-up, WAL setup or the migration of an empty database.
            time.sleep(rng.uniform(0.0, 0.4))
        else:
            assert ready.wait(60), child.stderr.read() if child.stderr else ""
            time.sleep(rng.uniform(0.05, 0.5))
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        assert child.returncode == -signal.SIGKILL
        kills += 1
        reader.join(10)
        acknowledged.extend(line for line in lines if line)
    assert kills >= 20
    assert len(acknowledged) > 500, "the writers should have acknowledged many rows"
    engine = make_engine(url)
    upgrade(engine)  # a kill during the first migration must leave a usable database
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        stored = set(conn.execute(select(Execution.id)).scalars())
    engine.dispose()
    missing = [i for i in acknowledged if i not in stored]
    assert not missing, f"{len(missing)} acknowledged rows are missing, e.g. {missing[:3]}"


def _migrate_at_once(url: str, tmp_path: Path, processes: int = 8) -> None:
    start = time.time() + 2.0  # every child is imported and waiting before this moment
    children = [_spawn(["migrate", url, str(start)], tmp_path) for _ in range(processes)]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.strip() == head_revision(), (out, err)


@pytest.mark.timeout(120)
def test_eight_processes_migrate_an_empty_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'store.db'}"
    _migrate_at_once(url, tmp_path)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            head_revision()
        ]
    engine.dispose()


@pytest.mark.timeout(120)
def test_eight_processes_migrate_an_old_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    engine.dispose()
    _migrate_at_once(url, tmp_path)


@pytest.mark.timeout(120)
def test_eight_processes_migrate_an_empty_postgresql_database(pg_url: str, tmp_path: Path) -> None:
    _migrate_at_once(pg_url, tmp_path)
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            head_revision()
        ]
    engine.dispose()

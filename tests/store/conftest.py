"""Fixtures for the store tests: a store on SQLite and on a real PostgreSQL server.

The PostgreSQL server is started once per session by these fixtures (initdb in a temp dir,
listening on 127.0.0.1 on a free port, run as the unprivileged ``postgres`` user when the tests
run as root) and stopped at the end. Its tests are skipped, with the reason, only when the
server binaries or psycopg are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codetune_lsp.paths import Paths
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import ExecutionRecord, Store, open_store
from tests.needs import missing

REPO_ROOT = Path(__file__).resolve().parents[2]


def find_pg_bin() -> Path | None:
    """The directory holding initdb and pg_ctl ($CODETUNE_PG_BIN, PATH, Debian's layout)."""
    candidates = []
    if os.environ.get("CODETUNE_PG_BIN"):
        candidates.append(Path(os.environ["CODETUNE_PG_BIN"]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0)
    )
    candidates.extend(Path(p) for p in reversed(versions))
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = find_pg_bin()
    if bindir is None:
        missing(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian "
            "package `postgresql` or set CODETUNE_PG_BIN to run the PostgreSQL store tests"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("psycopg is not installed: pip install 'codetune-lsp[postgres]'")
    run_as: dict[str, Any] = {}
    base = Path(tempfile.mkdtemp(prefix="codetune-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            missing("running as root and there is no unprivileged `postgres` user")
        os.chown(base, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data = base / "data"
    port = free_port()
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        ],
        check=True,
        capture_output=True,
        cwd=base,
        **run_as,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='{base}' "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log")]
    started = subprocess.run(
        [*pg_ctl, "-w", "-t", "60", "start"],
        capture_output=True,
        text=True,
        cwd=base,
        **run_as,
    )
    if started.returncode != 0:
        log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
        pytest.fail(f"PostgreSQL did not start: {started.stderr}\n{log}")
    try:
        yield PgServer("127.0.0.1", port, "postgres")
    finally:
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            cwd=base,
            **run_as,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


def make_paths(root: Path) -> Paths:
    return Paths(
        config_file=root / "config.toml",
        config_file_origin="test",
        data_dir=root / "data",
        data_dir_origin="test",
    )


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return make_paths(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store_factory(db_url: str, paths: Paths) -> Iterator[Any]:
    """Open stores on ``db_url`` with given settings; all closed at the end."""
    opened: list[Store] = []

    def factory(**settings: Any) -> Store:
        store = open_store(StoreSettings(url=db_url, **settings), paths)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()
        store.db_engine.dispose()


@pytest.fixture
def store(store_factory: Any) -> Store:
    return store_factory()


def make_record(**overrides: Any) -> ExecutionRecord:
    values: dict[str, Any] = {
        "feature": "completion",
        "backend": "local",
        "model_profile": "codet5p-220m-py",
        "model_id": "Salesforce/codet5p-220m-py",
        "model_revision": "abc123",
        "success": True,
        "document_uri": "file:///work/project/app.py",
        "language_id": "python",
        "document_version": 3,
        "template_name": "completion.infill",
        "requested_label": "production",
        "params": {"temperature": 0, "max_new_tokens": 64},
        "rendered_prompt": "def add(a, b):\n    return <extra_id_0>",
        "output": "a + b",
        "finish_reason": "stop",
        "latency_ms": 42.5,
        "ttft_ms": 12.0,
        "input_tokens": 17,
        "output_tokens": 4,
        "estimated_cost": 0.0001,
    }
    values.update(overrides)
    return ExecutionRecord(**values)


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env

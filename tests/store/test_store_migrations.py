"""Migrations: the packaged scripts match the models, and every older schema upgrades to head
with its rows intact (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from codetune_lsp.paths import Paths
from codetune_lsp.settings import StoreSettings
from codetune_lsp.store import SchemaError, open_store
from codetune_lsp.store.db import make_engine, write_transaction
from codetune_lsp.store.migrate import (
    all_revisions,
    current_revision,
    head_revision,
    script_directory,
    upgrade,
)
from codetune_lsp.store.tables import Base
from tests.store.conftest import make_record

T0 = datetime(2026, 4, 1, 8, 0, 0)


def test_file_names_give_the_alembic_revision_chain() -> None:
    scripts = list(reversed(list(script_directory().walk_revisions())))
    assert [s.revision for s in scripts] == all_revisions()
    assert [s.down_revision for s in scripts] == [None, *all_revisions()[:-1]]
    assert script_directory().get_current_head() == head_revision()
    assert len(all_revisions()) >= 3


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    assert upgrade(engine) is True
    assert upgrade(engine) is False  # already at head: nothing to do
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def _seed(conn: Connection, revision: str) -> None:
    """Rows as the given (old) schema had them, written with plain SQL."""
    conn.execute(
        text(
            "INSERT INTO prompt_templates (id, name, description, created_at)"
            " VALUES (1, 'completion.infill', '', :t)"
        ),
        {"t": T0},
    )
    conn.execute(
        text(
            "INSERT INTO prompt_versions (id, template_id, version, content_hash, body,"
            " config_json, note, created_at) VALUES (1, 1, 1, 'h1', 'body one', '{}', '', :t),"
            " (2, 1, 2, 'h2', 'body two', '{}', '', :t)"
        ),
        {"t": T0},
    )
    conn.execute(
        text(
            "INSERT INTO prompt_labels (id, template_id, name, version_id, updated_at)"
            " VALUES (1, 1, 'production', 2, :t)"
        ),
        {"t": T0},
    )
    conn.execute(
        text(
            "INSERT INTO label_events (template_id, label, from_version_id, to_version_id,"
            " actor, reason, created_at) VALUES (1, 'production', NULL, 1, 'me', '', :t),"
            " (1, 'production', 1, 2, 'me', '', :t)"
        ),
        {"t": T0},
    )
    conn.execute(
        text("INSERT INTO prompt_texts (hash, text, created_at) VALUES ('ph', 'old prompt', :t)"),
        {"t": T0},
    )
    for i in range(30):
        conn.execute(
            text(
                "INSERT INTO executions (id, created_at, feature, template_name,"
                " resolved_version_id, backend, model_profile, model_id, params_hash,"
                " rendered_prompt_hash, output, success, latency_ms, input_tokens,"
                " output_tokens, estimated_cost) VALUES (:id, :t, 'completion',"
                " 'completion.infill', 2, 'local', 'p', 'm', 'x', 'ph', :out, :ok, 12.5, 7, 3,"
                " 0.01)"
            ),
            {"id": f"01OLD{i:021d}", "t": T0, "out": f"old output {i}", "ok": i % 3 != 0},
        )
    conn.execute(
        text(
            "INSERT INTO feedback (execution_id, kind, rating, comment, created_at)"
            " VALUES (:id, 'accepted', NULL, NULL, :t), (:id, 'rating', 5, 'great', :t)"
        ),
        {"id": f"01OLD{0:021d}", "t": T0},
    )
    if revision >= "0002":
        conn.execute(
            text(
                "INSERT INTO cache_entries (key, template_version_id, backend, model_id, output,"
                " size_bytes, hits, created_at, last_used_at) VALUES ('k', 2, 'local', 'm',"
                " 'cached', 6, 4, :t, :t)"
            ),
            {"t": T0},
        )
        conn.execute(
            text("UPDATE executions SET cache_hit = :hit WHERE id = :id"),
            {"hit": True, "id": f"01OLD{1:021d}"},
        )


def _scalar(conn: Connection, sql: str) -> Any:
    return conn.execute(text(sql)).scalar()


@pytest.mark.parametrize("revision", all_revisions()[:-1])
def test_upgrade_from_every_older_revision_keeps_rows(
    revision: str, db_url: str, paths: Paths
) -> None:
    engine = make_engine(db_url)
    upgrade(engine, revision)
    assert current_revision(engine) == revision
    with write_transaction(engine) as conn:
        _seed(conn, revision)
    engine.dispose()

    store = open_store(StoreSettings(url=db_url), paths)  # migrates to head at start-up
    try:
        assert current_revision(store.db_engine) == head_revision()
        with store.db_engine.connect() as conn:
            assert _scalar(conn, "SELECT count(*) FROM executions") == 30
            assert (
                _scalar(
                    conn,
                    "SELECT count(*) FROM executions WHERE success = :t".replace(
                        ":t", "true" if store.dialect == "postgresql" else "1"
                    ),
                )
                == 20
            )
            assert _scalar(conn, "SELECT count(*) FROM feedback") == 2  # not cascaded away
            assert _scalar(conn, "SELECT comment FROM feedback WHERE kind = 'rating'") == "great"
            assert (
                _scalar(
                    conn, "SELECT output FROM executions WHERE id = '01OLD000000000000000000005'"
                )
                == "old output 5"
            )
            assert _scalar(conn, "SELECT sum(input_tokens) FROM executions") == 210
            assert _scalar(conn, "SELECT count(*) FROM label_events") == 2
            assert _scalar(conn, "SELECT version_id FROM prompt_labels") == 2
            assert _scalar(conn, "SELECT text FROM prompt_texts") == "old prompt"
            hits = 1 if revision >= "0002" else 0
            flag = "true" if store.dialect == "postgresql" else "1"
            assert (
                _scalar(conn, f"SELECT count(*) FROM executions WHERE cache_hit = {flag}") == hits
            )
            assert _scalar(conn, "SELECT count(*) FROM cache_entries") == hits
            assert (
                _scalar(conn, "SELECT count(*) FROM executions WHERE experiment_arm_id IS NULL")
                == 30
            )
            if store.dialect == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        # The upgraded store is fully usable, foreign keys included.
        new_id = store.record_execution(make_record(resolved_version_id=2)).result(timeout=10)
        assert store.add_feedback(new_id, "accepted").result(timeout=10) > 0
        with pytest.raises(Exception, match=r"(?i)foreign key"):
            store.record_execution(make_record(experiment_arm_id=999)).result(timeout=10)
    finally:
        store.close()


def test_a_newer_schema_is_refused_with_a_clear_message(db_url: str, paths: Paths) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(SchemaError, match="newer version"):
        open_store(StoreSettings(url=db_url), paths)


def test_a_failed_migration_leaves_the_old_schema(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = make_engine(url)
    upgrade(engine, "0001")
    from alembic import command

    real_upgrade = command.upgrade

    def broken(config: Any, target: str) -> None:
        real_upgrade(config, target)
        raise RuntimeError("power cut")

    monkeypatch.setattr(command, "upgrade", broken)
    with pytest.raises(RuntimeError, match="power cut"):
        upgrade(engine)
    assert current_revision(engine) == "0001"
    with engine.connect() as conn:
        tables = {
            r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert "cache_entries" not in tables and "experiments" not in tables
    monkeypatch.undo()
    assert upgrade(engine) is True
    engine.dispose()

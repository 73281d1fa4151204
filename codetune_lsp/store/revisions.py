"""The schema revisions this code ships, read from the migration files' names: no Alembic or
SQLAlchemy import, so a server can check a store file's schema before opening it."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def all_revisions() -> list[str]:
    """Every revision id, oldest first. By convention ``versions/NNNN_name.py`` holds
    revision ``NNNN`` revising the one before (a test checks this against Alembic), so the
    start-up check needs no Alembic import."""
    names = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return [name[:4] for name in names]


def head_revision() -> str:
    return all_revisions()[-1]

"""Alembic environment: always runs on the connection handed over by ``migrate.py``.

The caller owns the transaction (and the lock around it), so nothing here begins or commits.
"""

from __future__ import annotations

from alembic import context

from codetune_lsp.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through a hand-written alembic.ini
    raise RuntimeError("run the store migrations through codetune_lsp.store.migrate")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Alembic migrations of the store, run programmatically by :mod:`codetune_lsp.store.migrate`."""

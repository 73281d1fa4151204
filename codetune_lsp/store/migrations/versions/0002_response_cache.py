"""Response cache: the ``cache_entries`` table and the ``executions.cache_hit`` flag.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("template_version_id", sa.Integer(), nullable=True),
        sa.Column("backend", sa.String(50), nullable=False),
        sa.Column("model_id", sa.String(300), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("finish_reason", sa.String(50), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_cache_entries"),
    )
    op.create_index(
        "ix_cache_entries_template_version_id", "cache_entries", ["template_version_id"]
    )
    op.create_index("ix_cache_entries_expires_at", "cache_entries", ["expires_at"])
    op.create_index("ix_cache_entries_last_used_at", "cache_entries", ["last_used_at"])
    # Existing rows were all real model calls: false is the truth for them.
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("cache_hit", sa.Boolean(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("cache_hit")
    op.drop_table("cache_entries")

"""Served output: what the user was shown, beside the model's raw answer.

``executions.served_output`` holds the post-processed text and ``executions.empty_result``
marks an answer that post-processing emptied (recorded as unsuccessful).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("served_output", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("empty_result", sa.Boolean(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("empty_result")
        batch.drop_column("served_output")

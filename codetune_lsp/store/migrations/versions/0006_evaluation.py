"""Evaluation runs and their items: ``eval_runs``, ``eval_items``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("suite", sa.String(length=300), nullable=False),
        sa.Column("suite_hash", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=50), nullable=False),
        sa.Column("template_name", sa.String(length=200), nullable=False),
        sa.Column("template_version_id", sa.Integer(), nullable=True),
        sa.Column("model_profile", sa.String(length=200), nullable=False),
        sa.Column("model_id", sa.String(length=300), nullable=False),
        sa.Column("model_revision", sa.String(length=200), nullable=True),
        sa.Column("quantization", sa.String(length=50), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("n_items", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'failed')", name=op.f("ck_eval_runs_status")
        ),
        sa.ForeignKeyConstraint(
            ["template_version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_eval_runs_template_version_id_prompt_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_runs")),
    )
    op.create_index("ix_eval_runs_suite_started", "eval_runs", ["suite", "started_at"])
    op.create_index(op.f("ix_eval_runs_template_version_id"), "eval_runs", ["template_version_id"])
    op.create_table(
        "eval_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=26), nullable=False),
        sa.Column("item_id", sa.String(length=300), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("raw_output", sa.Text(), nullable=True),
        sa.Column("served_output", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["eval_runs.id"],
            name=op.f("fk_eval_items_run_id_eval_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_items")),
        sa.UniqueConstraint("run_id", "item_id", name=op.f("uq_eval_items_run_id_item_id")),
    )


def downgrade() -> None:
    op.drop_table("eval_items")
    op.drop_index(op.f("ix_eval_runs_template_version_id"), table_name="eval_runs")
    op.drop_index("ix_eval_runs_suite_started", table_name="eval_runs")
    op.drop_table("eval_runs")

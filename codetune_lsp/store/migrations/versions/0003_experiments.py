"""A/B experiments: ``experiments``, ``experiment_arms`` and ``executions.experiment_arm_id``.

On SQLite adding the foreign key recreates ``executions`` (batch mode); ``migrate.py`` turns
foreign-key enforcement off around it so the copy does not cascade into ``feedback``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'stopped')", name="ck_experiments_status"),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name="fk_experiments_template_id_prompt_templates",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
    )
    op.create_table(
        "experiment_arms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.CheckConstraint("weight >= 0", name="ck_experiment_arms_weight"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name="fk_experiment_arms_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["prompt_versions.id"],
            name="fk_experiment_arms_version_id_prompt_versions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_experiment_arms"),
        sa.UniqueConstraint("experiment_id", "name", name="uq_experiment_arms_experiment_id_name"),
    )
    op.create_index("ix_experiment_arms_experiment_id", "experiment_arms", ["experiment_id"])
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("experiment_arm_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_executions_experiment_arm_id_experiment_arms",
            "experiment_arms",
            ["experiment_arm_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_constraint("fk_executions_experiment_arm_id_experiment_arms", type_="foreignkey")
        batch.drop_column("experiment_arm_id")
    op.drop_index("ix_experiment_arms_experiment_id", table_name="experiment_arms")
    op.drop_table("experiment_arms")
    op.drop_table("experiments")

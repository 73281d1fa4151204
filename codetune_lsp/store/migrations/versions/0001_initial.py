"""Initial schema: prompt templates, versions, labels, label events, prompt texts, executions,
feedback.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_templates"),
        sa.UniqueConstraint("name", name="uq_prompt_templates_name"),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name="fk_prompt_versions_template_id_prompt_templates",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_versions"),
        sa.UniqueConstraint(
            "template_id", "version", name="uq_prompt_versions_template_id_version"
        ),
        sa.UniqueConstraint(
            "template_id", "content_hash", name="uq_prompt_versions_template_id_content_hash"
        ),
    )
    op.create_table(
        "prompt_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name="fk_prompt_labels_template_id_prompt_templates",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["prompt_versions.id"],
            name="fk_prompt_labels_version_id_prompt_versions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_labels"),
        sa.UniqueConstraint("template_id", "name", name="uq_prompt_labels_template_id_name"),
    )
    op.create_table(
        "label_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("from_version_id", sa.Integer(), nullable=True),
        sa.Column("to_version_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name="fk_label_events_template_id_prompt_templates",
        ),
        sa.ForeignKeyConstraint(
            ["from_version_id"],
            ["prompt_versions.id"],
            name="fk_label_events_from_version_id_prompt_versions",
        ),
        sa.ForeignKeyConstraint(
            ["to_version_id"],
            ["prompt_versions.id"],
            name="fk_label_events_to_version_id_prompt_versions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_label_events"),
    )
    op.create_index(
        "ix_label_events_template_label", "label_events", ["template_id", "label", "id"]
    )
    op.create_table(
        "prompt_texts",
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name="pk_prompt_texts"),
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("feature", sa.String(50), nullable=False),
        sa.Column("document_uri", sa.Text(), nullable=True),
        sa.Column("language_id", sa.String(50), nullable=True),
        sa.Column("document_version", sa.Integer(), nullable=True),
        sa.Column("template_name", sa.String(200), nullable=True),
        sa.Column("requested_label", sa.String(100), nullable=True),
        sa.Column("resolved_version_id", sa.Integer(), nullable=True),
        sa.Column("backend", sa.String(50), nullable=False),
        sa.Column("model_profile", sa.String(200), nullable=False),
        sa.Column("model_id", sa.String(300), nullable=False),
        sa.Column("model_revision", sa.String(200), nullable=True),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=True),
        sa.Column("rendered_prompt_hash", sa.String(64), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("finish_reason", sa.String(50), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_class", sa.String(200), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("estimated_cost", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resolved_version_id"],
            ["prompt_versions.id"],
            name="fk_executions_resolved_version_id_prompt_versions",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_executions"),
    )
    op.create_index("ix_executions_created_at", "executions", ["created_at"])
    op.create_index("ix_executions_feature", "executions", ["feature"])
    op.create_index("ix_executions_template_name", "executions", ["template_name"])
    op.create_index("ix_executions_resolved_version_id", "executions", ["resolved_version_id"])
    op.create_index("ix_executions_model_profile", "executions", ["model_profile"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(26), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('accepted', 'rejected', 'applied', 'dismissed', 'rating')",
            name="ck_feedback_kind",
        ),
        sa.CheckConstraint(
            "(kind = 'rating' AND rating IS NOT NULL AND rating BETWEEN 1 AND 5)"
            " OR (kind <> 'rating' AND rating IS NULL)",
            name="ck_feedback_rating",
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name="fk_feedback_execution_id_executions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_execution_id", "feedback", ["execution_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("executions")
    op.drop_table("prompt_texts")
    op.drop_table("label_events")
    op.drop_table("prompt_labels")
    op.drop_table("prompt_versions")
    op.drop_table("prompt_templates")

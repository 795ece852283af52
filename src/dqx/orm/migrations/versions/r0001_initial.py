"""The initial schema: dq_metric, dq_run, dq_assertion.

Revision ID: 0001
Revises:
Create Date: 2024-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from dqx.orm.types import ExactDouble

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dq_metric",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("parameters", _json(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("dataset", sa.Text(), nullable=False),
        sa.Column("yyyy_mm_dd", sa.Date(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("value", ExactDouble(), nullable=True),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("source_execution_id", sa.String(32), nullable=True),
        sa.Column("suite", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dq_metric"),
    )
    op.create_index("ix_dq_metric_execution_id", "dq_metric", ["execution_id"])
    op.create_index(
        "ix_dq_metric_kind_dataset_yyyy_mm_dd", "dq_metric", ["kind", "dataset", "yyyy_mm_dd"]
    )
    op.create_index("ix_dq_metric_identity_yyyy_mm_dd", "dq_metric", ["identity", "yyyy_mm_dd"])

    op.create_table(
        "dq_run",
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("suite", sa.Text(), nullable=False),
        sa.Column("yyyy_mm_dd", sa.Date(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trace_sampled", sa.Boolean(), nullable=True),
        sa.Column("metric_count", sa.Integer(), nullable=False),
        sa.Column("assertions_ok", sa.Integer(), nullable=False),
        sa.Column("assertions_failed", sa.Integer(), nullable=False),
        sa.Column("assertions_error", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("execution_id", name="pk_dq_run"),
    )
    op.create_index("ix_dq_run_suite_yyyy_mm_dd", "dq_run", ["suite", "yyyy_mm_dd"])

    op.create_table(
        "dq_assertion",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("check", sa.Text(), nullable=False),
        sa.Column("assertion", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(2), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("value", ExactDouble(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("bound", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dq_assertion"),
    )
    op.create_index("ix_dq_assertion_execution_id", "dq_assertion", ["execution_id"])


def downgrade() -> None:
    op.drop_table("dq_assertion")
    op.drop_table("dq_run")
    op.drop_table("dq_metric")

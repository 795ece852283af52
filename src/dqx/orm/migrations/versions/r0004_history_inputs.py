"""History as an input: skipped assertions, anomaly bands, bad baselines, re-evaluations.

dq_run.assertions_skipped counts assertions not judged (too little history yet, or a
prerequisite that did not pass); dq_run.source_execution_id names the run a
re-evaluation judged. dq_assertion keeps an is_not_anomalous assertion's expected band
and score. dq_bad_run records runs marked as bad baselines (who, when, why; cleared
the same way), whose computed metrics history then skips.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dqx.orm.types import ExactDouble

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dq_run") as batch:
        batch.add_column(
            sa.Column("assertions_skipped", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("source_execution_id", sa.String(32), nullable=True))
    with op.batch_alter_table("dq_assertion") as batch:
        batch.add_column(sa.Column("band_low", ExactDouble(), nullable=True))
        batch.add_column(sa.Column("band_high", ExactDouble(), nullable=True))
        batch.add_column(sa.Column("score", ExactDouble(), nullable=True))
    op.create_table(
        "dq_bad_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("marked_by", sa.Text(), nullable=False),
        sa.Column("marked_at", sa.DateTime(), nullable=False),
        sa.Column("cleared_by", sa.Text(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.Column("cleared_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dq_bad_run"),
    )
    op.create_index("ix_dq_bad_run_execution_id", "dq_bad_run", ["execution_id"])


def downgrade() -> None:
    op.drop_table("dq_bad_run")
    with op.batch_alter_table("dq_assertion") as batch:
        batch.drop_column("score")
        batch.drop_column("band_high")
        batch.drop_column("band_low")
    with op.batch_alter_table("dq_run") as batch:
        batch.drop_column("source_execution_id")
        batch.drop_column("assertions_skipped")

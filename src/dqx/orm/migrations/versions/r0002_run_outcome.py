"""A run's record says whether its trace was delivered and why it ended as it did.

dq_run.trace_exported: False when the spans could not be exported (the collector was
down), so reconciliation does not wait for a trace that never arrived; None when
nobody checked. dq_run.message: why a run was interrupted or reaped as stale, or
which write failed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dq_run") as batch:
        batch.add_column(sa.Column("trace_exported", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("message", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dq_run") as batch:
        batch.drop_column("message")
        batch.drop_column("trace_exported")

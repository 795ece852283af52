"""dq_statement: the SQL statements each run executed, with the metrics they computed.

The HTML report shows, beside each failed assertion, the statement that computed its
metrics; until now only the run's trace kept them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from dqx.orm.types import ExactDouble

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dq_statement",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.Text(), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("dates", _json(), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("seconds", ExactDouble(), nullable=False),
        sa.Column("rows_scanned", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dq_statement"),
    )
    op.create_index("ix_dq_statement_execution_id", "dq_statement", ["execution_id"])


def downgrade() -> None:
    op.drop_table("dq_statement")

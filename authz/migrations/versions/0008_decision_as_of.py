"""decision log: the instant a decision was asked for (NLGov ``context.time``), beside the instant it was answered

Revision ID: 0008
Revises: 0007

A nullable column: null for a decision about the moment it was asked (every ``/v1/check``), the instant asked for
otherwise. On PostgreSQL the parent's new column reaches every day partition (no rewrite: a nullable column without
a default is a catalogue change). SQLite: whole microseconds since the epoch, as ``at``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE decisions ADD COLUMN as_of timestamptz")
        return
    op.add_column("decisions", sa.Column("as_of", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("decisions", "as_of")

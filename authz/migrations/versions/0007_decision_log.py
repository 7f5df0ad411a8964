"""decision log: one row per decision answered; on PostgreSQL partitioned by UTC day

Revision ID: 0007
Revises: 0006

PostgreSQL: declarative range partitioning on ``at``, one partition per UTC day (``decisions_YYYYMMDD``), created
ahead by each instance's writer and dropped whole after ``AUTHZ_DECISION_LOG_DAYS`` (authz.store.decisionlog).
The indexes are declared on the parent, so every partition gets them: ``at`` for the unfiltered newest-first
page, and ``(user_email, at)``, ``(product, at)``, ``(afnemer, at)`` for the operator's filters. The columns are in
an order that wastes no alignment padding: the fixed-width ones first. SQLite: a plain table with the same
columns and indexes (``at`` in whole microseconds since the epoch, the trace and span as hex text: what SQLite
computes from the journal's JSON); retention by DELETE.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_INDEXES = (("ix_decisions_at", ("at",)), ("ix_decisions_user", ("user_email", "at")),
            ("ix_decisions_product", ("product", "at")), ("ix_decisions_afnemer", ("afnemer", "at")))


def upgrade() -> None:
    op.create_table(
        "decision_journals",
        sa.Column("journal", sa.String(length=64), nullable=False),
        sa.Column("shipped", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("journal"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE decisions_id_seq CACHE 1000")
        op.execute("""
            CREATE TABLE decisions (
                id bigint NOT NULL DEFAULT nextval('decisions_id_seq'),
                at timestamptz NOT NULL,
                revision bigint NOT NULL,
                reason smallint NOT NULL,
                allowed boolean NOT NULL,
                client text NOT NULL,
                user_email text NOT NULL,
                product text NOT NULL,
                afnemer text,
                trace_id bytea,
                span_id bytea,
                processing_activity_id text,
                algorithm_id text
            ) PARTITION BY RANGE (at)""")
        op.execute("ALTER SEQUENCE decisions_id_seq OWNED BY decisions.id")
        for name, columns in _INDEXES:
            op.execute(f"CREATE INDEX {name} ON decisions ({', '.join(columns)})")
        return
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("at", sa.BigInteger(), nullable=False),  # whole microseconds since the epoch
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.SmallInteger(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("client", sa.Text(), nullable=False),
        sa.Column("user_email", sa.Text(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("afnemer", sa.Text(), nullable=True),
        sa.Column("trace_id", sa.Text(), nullable=True),  # hex
        sa.Column("span_id", sa.Text(), nullable=True),
        sa.Column("processing_activity_id", sa.Text(), nullable=True),
        sa.Column("algorithm_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for name, columns in _INDEXES:
        op.create_index(name, "decisions", list(columns))


def downgrade() -> None:
    op.drop_table("decisions")  # on PostgreSQL its partitions and its sequence go with it
    op.drop_table("decision_journals")

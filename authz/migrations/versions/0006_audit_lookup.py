"""decisions as of an instant (NLGov context.time): the audit trail by subject and instant, the change log by instant

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # authz.store.policystate.replay_about: the records about a few subjects up to an instant, never the whole trail.
    op.create_index("ix_audit_subject_at", "audit", ["subject", "at"])
    # authz.store.policystate.revision_at: the newest change at or before an instant.
    op.create_index("ix_changes_at", "changes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_changes_at", table_name="changes")
    op.drop_index("ix_audit_subject_at", table_name="audit")

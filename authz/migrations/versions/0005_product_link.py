"""product link (R16): a page the gebruiker is offered for a product, set by the operator

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("products", sa.Column("url", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    op.drop_column("products", "url")

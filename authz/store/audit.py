"""Reading the audit trail (R12). Rows are written only by :class:`authz.store.db.Tx` at commit, never changed."""

from __future__ import annotations

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.orm import Session

from authz.store.schema import Audit


def trail(s: Session, org: str | None, *, user: str | None = None, product: str | None = None,
          before_id: int | None = None, limit: int = 50) -> list[Audit]:
    """Audit entries recorded on behalf of ``org`` (every organisation when None), newest first.

    ``user`` keeps entries made by, or about, an account whose e-mail contains it (actor or subject, substring).
    ``product`` keeps entries about that product code: a subject naming it (``product:P``, ``contract:A/P``) or a
    before/after value holding the code as a JSON string (``"P"``, e.g. in a grant's product list).
    ``before_id`` is the cursor: only entries older than that one.
    """
    q = select(Audit)
    if org is not None:
        q = q.where(Audit.on_behalf_of == org)
    if user:
        needle = user.lower()
        q = q.where(or_(Audit.actor.contains(needle, autoescape=True),
                        Audit.subject.contains(needle, autoescape=True)))
    if product:
        token = f'"{product}"'
        q = q.where(or_(Audit.subject == f"product:{product}",
                        Audit.subject.endswith(f"/{product}", autoescape=True),
                        cast(Audit.before, Text).contains(token, autoescape=True),
                        cast(Audit.after, Text).contains(token, autoescape=True)))
    if before_id is not None:
        q = q.where(Audit.id < before_id)
    return list(s.scalars(q.order_by(Audit.id.desc()).limit(limit)))

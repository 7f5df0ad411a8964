"""Reading the audit trail (R12). Rows are written only by :class:`authz.store.db.Tx` at commit, never changed."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.orm import Session

from authz.store.schema import Account, Audit, Organisation, Product


def trail(s: Session, org: str | None, *, user: str | None = None, product: str | None = None,
          before_id: int | None = None, since: datetime | None = None, until: datetime | None = None,
          limit: int = 50) -> list[Audit]:
    """Audit entries recorded on behalf of ``org`` (every organisation when None), newest first.

    ``user`` keeps entries made by, or about, an account whose e-mail contains it (actor or subject, substring).
    ``product`` keeps entries about that product code: a subject naming it (``product:P``, ``contract:A/P``) or a
    before/after value holding the code as a JSON string (``"P"``, e.g. in a grant's product list).
    ``since`` and ``until`` keep entries recorded at or after ``since`` and before ``until``.
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
    if since is not None:
        q = q.where(Audit.at >= since)
    if until is not None:
        q = q.where(Audit.at < until)
    if before_id is not None:
        q = q.where(Audit.id < before_id)
    return list(s.scalars(q.order_by(Audit.id.desc()).limit(limit)))


def names(s: Session, emails: Collection[str], codes: Collection[str], kvks: Collection[str]
          ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The names of these accounts, products and organisations (those that still exist and have one)."""
    people: dict[str, str] = {}
    products: dict[str, str] = {}
    orgs: dict[str, str] = {}
    if emails:
        people = {e: n for e, n in s.execute(select(Account.email, Account.name).where(Account.email.in_(emails)))
                  if n}
    if codes:
        products = {c: n for c, n in s.execute(select(Product.code, Product.name).where(Product.code.in_(codes)))}
    if kvks:
        orgs = {k: n for k, n in s.execute(select(Organisation.kvk, Organisation.name)
                                           .where(Organisation.kvk.in_(kvks)))}
    return people, products, orgs

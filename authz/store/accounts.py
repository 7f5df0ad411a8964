"""Accounts and their roles. The e-mail address is the login name, kept lower-case and unique."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from authz import policy, values
from authz.errors import Conflict, NotFound
from authz.events import AccountChanged
from authz.store import projection
from authz.store.db import Tx
from authz.store.schema import Account, Role

STATUSES = ("approved", "active", "inactive")


def view(t: Tx, a: Account) -> dict[str, Any]:
    return {"email": a.email, "name": a.name, "org": a.org, "status": a.status, "roles": sorted(roles(t, a))}


def roles(t: Tx, a: Account) -> set[str]:
    return set(t.s.scalars(select(Role.role).where(Role.account_id == a.id)))


def _lines(a: Account, status: str, role_set: set[str]) -> list[policy.Line]:
    return policy.account_lines(a.email, a.org, status, role_set)


def by_email(t: Tx, email: str, *, lock: bool = False) -> Account | None:
    q = select(Account).where(Account.email == values.email(email, "email"))
    if lock:
        q = q.with_for_update()
    return t.s.scalars(q).first()


def get(t: Tx, email: str, org: str | None = None, *, lock: bool = False) -> Account:
    """The account, or 404; with ``org``, only an account of that organisation (tenant isolation)."""
    a = by_email(t, email, lock=lock)
    if a is None or (org is not None and a.org != org):
        raise NotFound("unknown_account", "No such account in this organisation.")
    return a


def create(t: Tx, email: str, org: str | None, password_hash: str, status: str, name: str = "",
           role_set: set[str] | None = None) -> Account:
    email = values.email(email, "email")
    if t.s.scalar(select(func.count()).select_from(Account).where(Account.email == email)):
        raise Conflict("account_exists", f"An account for {email} already exists.")
    a = Account(email=email, org=org, password_hash=password_hash, status=status, name=name, grants_version=0,
                created_at=t.now, activated_at=t.now if status == "active" else None)
    t.s.add(a)
    t.s.flush()
    for r in sorted(role_set or set()):
        t.s.add(Role(account_id=a.id, role=r))
    t.s.flush()
    projection.add(t.s, _lines(a, status, role_set or set()))
    t.audit("account.create", f"account:{email}", None, view(t, a), org=org)
    t.event(AccountChanged(email, org, status))
    return a


def set_status(t: Tx, a: Account, status: str) -> None:
    if status not in STATUSES:
        raise ValueError(status)
    before = view(t, a)
    role_set = roles(t, a)
    projection.replace(t.s, _lines(a, a.status, role_set), _lines(a, status, role_set))
    if status == "active" and a.activated_at is None:
        a.activated_at = t.now
    a.status = status
    t.s.flush()
    t.audit(f"account.{status}", f"account:{a.email}", before, view(t, a), org=a.org)
    t.event(AccountChanged(a.email, a.org, status))


def set_role(t: Tx, a: Account, role: str, held: bool) -> None:
    before = view(t, a)
    role_set = roles(t, a)
    new = role_set | {role} if held else role_set - {role}
    if new == role_set:
        return
    projection.replace(t.s, _lines(a, a.status, role_set), _lines(a, a.status, new))
    if held:
        t.s.add(Role(account_id=a.id, role=role))
    else:
        t.s.delete(t.s.get(Role, (a.id, role)))
    t.s.flush()
    t.audit(f"role.{'grant' if held else 'revoke'}", f"account:{a.email}", before, view(t, a), org=a.org)
    # Roles do not change decisions (R1); the event keeps other instances' view of the account current.
    t.event(AccountChanged(a.email, a.org, a.status))


def active_beheerders(t: Tx, org: str, *, lock: bool = False) -> list[Account]:
    q = (select(Account).join(Role, Role.account_id == Account.id)
         .where(Account.org == org, Account.status == "active", Role.role == "beheerder")
         .order_by(Account.email))
    if lock:
        q = q.with_for_update()
    return list(t.s.scalars(q))


def active_operators(t: Tx) -> list[Account]:
    """The active operator accounts (provider staff, no organisation), by e-mail."""
    q = (select(Account).join(Role, Role.account_id == Account.id)
         .where(Account.org.is_(None), Account.status == "active", Role.role == "operator")
         .order_by(Account.email))
    return list(t.s.scalars(q))


def of_org(s: Session, org: str, q: str | None = None, after: str | None = None, limit: int | None = None
           ) -> list[tuple[Account, list[str]]]:
    """The organisation's accounts by e-mail, each with its sorted roles (two queries, not one per account).

    ``q`` keeps accounts whose e-mail or name contains it, case-insensitively (``%`` and ``_`` are literal);
    ``after`` and ``limit`` page through the list by e-mail.
    """
    query = select(Account).where(Account.org == org)
    if q:
        needle = q.lower()
        query = query.where(or_(Account.email.contains(needle, autoescape=True),
                                func.lower(Account.name).contains(needle, autoescape=True)))
    if after is not None:
        query = query.where(Account.email > after)
    query = query.order_by(Account.email)
    if limit is not None:
        query = query.limit(limit)
    found = list(s.scalars(query))
    held: dict[int, list[str]] = {}
    if found:
        for account_id, role in s.execute(select(Role.account_id, Role.role)
                                          .where(Role.account_id.in_([a.id for a in found]))
                                          .order_by(Role.role)):
            held.setdefault(account_id, []).append(role)
    return [(a, held.get(a.id, [])) for a in found]

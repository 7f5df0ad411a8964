"""Account requests (table ``account_requests``): self-registrations (R5, R6) and accepted invitations (R7).

A request is *open* while it waits for the operator (``pending_operator``) or for a beheerder of its organisation
(``pending_beheerder``); it ends ``approved`` or ``rejected`` and is kept as the record of that decision. The
password hash chosen by the applicant lives here until approval copies it into the account; it never appears in a
view or in the audit trail.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select, text

from authz.errors import Conflict, NotFound
from authz.store.db import Tx
from authz.store.schema import Account, AccountRequest

OPEN = ("pending_operator", "pending_beheerder")


def view(r: AccountRequest) -> dict[str, Any]:
    """What the audit trail and the operator see of a request (never the password hash)."""
    return {"id": r.id, "email": r.email, "kvk": r.kvk, "organisation_name": r.organisation_name, "name": r.name,
            "kind": r.kind, "status": r.status,
            "decided_by": r.decided_by, "decided_at": r.decided_at.isoformat() if r.decided_at else None}


def lock_keys(t: Tx, *keys: str) -> None:
    """Serialise transactions about the same e-mail address or KvK number until commit.

    ``account_requests.email`` cannot be unique (decided requests stay), so two registrations of one address would
    both pass the duplicate check. PostgreSQL: transaction-scoped advisory locks, taken in sorted order so that two
    transactions never wait on each other crosswise. SQLite: every writer already holds the database write lock
    (BEGIN IMMEDIATE), so nothing is needed.
    """
    if t.s.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        n = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        t.s.execute(text("SELECT pg_advisory_xact_lock(:n)"), {"n": n})


def email_taken(t: Tx, email: str) -> bool:
    """An account, or an open request, exists for this (lower-case) address."""
    if t.s.scalar(select(func.count()).select_from(Account).where(Account.email == email)):
        return True
    return bool(t.s.scalar(select(func.count()).select_from(AccountRequest).where(
        AccountRequest.email == email, AccountRequest.status.in_(OPEN))))


def create(t: Tx, *, email: str, kvk: str, organisation_name: str | None, name: str, password_hash: str,
           kind: str, status: str) -> AccountRequest:
    if status not in OPEN:
        raise ValueError(status)
    if email_taken(t, email):
        raise Conflict("already_registered", f"An account or an open account request for {email} already exists.")
    r = AccountRequest(email=email, kvk=kvk, organisation_name=organisation_name, name=name,
                       password_hash=password_hash, kind=kind, status=status, created_at=t.now)
    t.s.add(r)
    t.s.flush()
    t.audit("request.create", f"request:{r.id}", None, view(r), org=kvk)
    return r


def get(t: Tx, request_id: int, kvk: str | None = None, *, lock: bool = False) -> AccountRequest:
    """The request, or 404; with ``kvk``, only a request of that organisation (tenant isolation)."""
    q = select(AccountRequest).where(AccountRequest.id == request_id)
    if lock:
        q = q.with_for_update()
    r = t.s.scalars(q).first()
    if r is None or (kvk is not None and r.kvk != kvk):
        raise NotFound("unknown_request", "No such account request.")
    return r


def decide(t: Tx, r: AccountRequest, status: str, account_id: int | None = None) -> None:
    """Record the decision on an open request; a request is decided once (409 after that)."""
    if status not in ("approved", "rejected"):
        raise ValueError(status)
    if r.status not in OPEN:
        raise Conflict("request_decided", f"This request was already {r.status}.")
    before = view(r)
    r.status, r.decided_at, r.decided_by, r.account_id = status, t.now, t.actor, account_id
    r.password_hash = ""  # copied into the account on approval; of no use to anyone after a decision
    t.s.flush()
    t.audit(f"request.{'approve' if status == 'approved' else 'reject'}", f"request:{r.id}", before, view(r),
            org=r.kvk)


def open_for_operator(t: Tx) -> list[AccountRequest]:
    q = select(AccountRequest).where(AccountRequest.status == "pending_operator").order_by(AccountRequest.id)
    return list(t.s.scalars(q))


def open_for_org(t: Tx, kvk: str) -> list[AccountRequest]:
    q = (select(AccountRequest)
         .where(AccountRequest.kvk == kvk, AccountRequest.status == "pending_beheerder")
         .order_by(AccountRequest.id))
    return list(t.s.scalars(q))

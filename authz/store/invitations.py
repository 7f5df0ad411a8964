"""Invitations (R7, table ``invitations``): a beheerder invites a business e-mail address into its organisation.

An invitation is ``open`` until the invitee accepts it (``accepted``: an account request now waits for the
beheerders) or a beheerder withdraws it (``withdrawn``); an open invitation past ``expires_at`` has lapsed. Its
link is a ``tokens`` row of purpose ``invitation`` (only the hash is kept, here as ``token_hash``); sending it again
ends that token and issues a new one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from authz.errors import Conflict, NotFound
from authz.store import tokens
from authz.store.db import Tx
from authz.store.schema import Invitation, Token

TTL = timedelta(days=21)


def view(i: Invitation) -> dict[str, Any]:
    return {"id": i.id, "email": i.email, "kvk": i.kvk, "invited_by": i.invited_by, "status": i.status,
            "created_at": i.created_at.isoformat(), "expires_at": i.expires_at.isoformat()}


def open_for(t: Tx, email: str) -> Invitation | None:
    """The open, unexpired invitation of this (lower-case) address, if any."""
    return t.s.scalars(select(Invitation).where(Invitation.email == email, Invitation.status == "open",
                                                Invitation.expires_at > t.now)).first()


def create(t: Tx, email: str, kvk: str) -> tuple[Invitation, str]:
    """A new open invitation and its link token."""
    token = tokens.issue(t, "invitation", TTL, email=email, kvk=kvk)
    i = Invitation(email=email, kvk=kvk, invited_by=t.actor, token_hash=tokens.digest(token), status="open",
                   created_at=t.now, expires_at=t.now + TTL)
    t.s.add(i)
    t.s.flush()
    t.audit("invitation.create", f"invitation:{i.id}", None, view(i), org=kvk)
    return i, token


def get(t: Tx, invitation_id: int, kvk: str, *, lock: bool = False) -> Invitation:
    """The invitation of organisation ``kvk``, or 404 (another organisation's too)."""
    q = select(Invitation).where(Invitation.id == invitation_id)
    if lock:
        q = q.with_for_update()
    i = t.s.scalars(q).first()
    if i is None or i.kvk != kvk:
        raise NotFound("unknown_invitation", "No such invitation.")
    return i


def by_token(t: Tx, token: str, *, lock: bool = False) -> tuple[Invitation, Token]:
    """The open invitation behind a link: 404 for an unknown token or one of another purpose, 409 for an invitation
    that was accepted or withdrawn, then 409 for a used and 410 for an expired link."""
    row = tokens.find(t, token, "invitation")
    q = select(Invitation).where(Invitation.token_hash == row.hash)
    if lock:
        q = q.with_for_update()
    i = t.s.scalars(q).first()
    if i is not None and i.status != "open":
        raise Conflict(f"invitation_{i.status}", f"This invitation was {i.status}.")
    tokens.check(t, row)
    if i is None:  # a link that was replaced by sending the invitation again (its token has ended)
        raise NotFound("invalid_token", "This link is not valid.")
    return i, row


def _end_token(t: Tx, i: Invitation) -> None:
    t.s.execute(update(Token).where(Token.hash == i.token_hash, Token.used_at.is_(None), Token.expires_at > t.now)
                .values(expires_at=t.now))


def renew(t: Tx, i: Invitation) -> str:
    """Send again: the old link stops working, a new one is valid for another 21 days."""
    if i.status != "open":
        raise Conflict(f"invitation_{i.status}", f"This invitation was {i.status}.")
    before = view(i)
    _end_token(t, i)
    token = tokens.issue(t, "invitation", TTL, email=i.email, kvk=i.kvk)
    i.token_hash, i.expires_at = tokens.digest(token), t.now + TTL
    t.s.flush()
    t.audit("invitation.resend", f"invitation:{i.id}", before, view(i), org=i.kvk)
    return token


def withdraw(t: Tx, i: Invitation) -> None:
    if i.status != "open":
        raise Conflict(f"invitation_{i.status}", f"This invitation was {i.status}.")
    before = view(i)
    _end_token(t, i)
    i.status, i.decided_at = "withdrawn", t.now
    t.s.flush()
    t.audit("invitation.withdraw", f"invitation:{i.id}", before, view(i), org=i.kvk)


def accepted(t: Tx, i: Invitation, row: Token, request_id: int) -> None:
    before = view(i)
    tokens.use(t, row)
    i.status, i.decided_at, i.request_id = "accepted", t.now, request_id
    t.s.flush()
    t.audit("invitation.accept", f"invitation:{i.id}", before, view(i), org=i.kvk)


def open_of_org(t: Tx, kvk: str) -> list[Invitation]:
    """The organisation's open invitations, lapsed ones included (the beheerder may send those again)."""
    q = (select(Invitation).where(Invitation.kvk == kvk, Invitation.status == "open")
         .order_by(Invitation.created_at, Invitation.id))
    return list(t.s.scalars(q))



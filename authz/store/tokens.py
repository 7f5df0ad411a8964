"""Single-use links (activation, invitation, reset): only a SHA-256 of each token is stored (table ``tokens``).

The token itself goes out once, in an e-mail; whoever can read the database cannot use a link from it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from authz.errors import AuthzError, Conflict, NotFound
from authz.store.db import Tx
from authz.store.schema import Token

PURPOSES = ("activation", "invitation", "reset")


class Gone(AuthzError):
    """The link existed but has expired (410)."""

    status = 410


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(t: Tx, purpose: str, ttl: timedelta, *, account_id: int | None = None, email: str | None = None,
          kvk: str | None = None) -> str:
    """A new token for ``purpose``, valid for ``ttl`` from now; returns the token (only its hash is kept).

    Earlier unused tokens of the same purpose for the same account end now: only the newest link works.
    """
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    if account_id is not None:
        t.s.execute(update(Token)
                    .where(Token.account_id == account_id, Token.purpose == purpose, Token.used_at.is_(None),
                           Token.expires_at > t.now)
                    .values(expires_at=t.now))
    token = secrets.token_urlsafe(32)
    t.s.add(Token(hash=digest(token), purpose=purpose, account_id=account_id, email=email, kvk=kvk,
                  created_by=t.actor, created_at=t.now, expires_at=t.now + ttl))
    t.s.flush()
    return token


def redeem(t: Tx, token: str, purpose: str) -> Token:
    """Check and lock the token for ``purpose``; the caller marks it used with :func:`use` in the same transaction.

    Unknown and wrong-purpose tokens look the same to the caller (404 ``invalid_token``), so a link of one kind
    cannot be probed through another endpoint.
    """
    row = find(t, token, purpose)
    check(t, row)
    return row


def find(t: Tx, token: str, purpose: str) -> Token:
    """The locked row of a token of ``purpose``, used or expired alike (404 ``invalid_token`` otherwise)."""
    row = t.s.scalars(select(Token).where(Token.hash == digest(token)).with_for_update()).first()
    if row is None or row.purpose != purpose:
        raise NotFound("invalid_token", "This link is not valid.")
    return row


def check(t: Tx, row: Token) -> None:
    """409 ``token_used`` or 410 ``token_expired`` unless the link can still be used."""
    if row.used_at is not None:
        raise Conflict("token_used", "This link has already been used.")
    if t.now >= row.expires_at:
        raise Gone("token_expired", "This link has expired; ask your beheerder for a new one.")


def use(t: Tx, row: Token) -> None:
    row.used_at = t.now
    t.s.flush()


def with_live_link(t: Tx, account_ids: list[int], purpose: str) -> set[int]:
    """Those of ``account_ids`` holding an unused, unexpired link of ``purpose``."""
    if not account_ids:
        return set()
    return set(t.s.scalars(select(Token.account_id).where(
        Token.account_id.in_(account_ids), Token.purpose == purpose, Token.used_at.is_(None),
        Token.expires_at > t.now)))

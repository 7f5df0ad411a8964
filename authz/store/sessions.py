"""Server-side sessions and the actor behind them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session as SqlSession

from authz.actor import Actor
from authz.store import mfa
from authz.store.schema import Account, Organisation, Role
from authz.store.schema import Session as SessionRow


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def roles_of(s: SqlSession, account_id: int) -> frozenset[str]:
    return frozenset(s.scalars(select(Role.role).where(Role.account_id == account_id)))


def actor_of(s: SqlSession, account: Account, session_hash: str = "") -> Actor:
    org = s.get(Organisation, account.org) if account.org is not None else None
    return Actor(account.id, account.email, account.org, account.status, roles_of(s, account.id), session_hash,
                 org.name if org is not None else None, mfa.active(s, account.id) is not None)


def create(s: SqlSession, account_id: int, now: datetime) -> str:
    """A new session for the account; returns the cookie value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    s.add(SessionRow(hash=token_hash(token), account_id=account_id, created_at=now, last_seen=now))
    return token


def lookup(s: SqlSession, token: str, now: datetime, idle: int, absolute: int) -> tuple[int, str] | None:
    """(account id, session hash) of a live session, or None when unknown or past its idle or absolute timeout
    (then it is deleted)."""
    h = token_hash(token)
    row = s.get(SessionRow, h)
    if row is None:
        return None
    if now - row.last_seen > timedelta(seconds=idle) or now - row.created_at > timedelta(seconds=absolute):
        s.execute(delete(SessionRow).where(SessionRow.hash == h))
        return None
    if now - row.last_seen > timedelta(seconds=60):  # a write per minute, not per request
        s.execute(update(SessionRow).where(SessionRow.hash == h).values(last_seen=now))
    return row.account_id, h


def end(s: SqlSession, token_or_hash: str, *, is_hash: bool = False) -> None:
    h = token_or_hash if is_hash else token_hash(token_or_hash)
    s.execute(delete(SessionRow).where(SessionRow.hash == h))


def end_all(s: SqlSession, account_id: int, keep: str | None = None) -> None:
    q = delete(SessionRow).where(SessionRow.account_id == account_id)
    if keep is not None:
        q = q.where(SessionRow.hash != keep)
    s.execute(q)

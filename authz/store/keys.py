"""Service API keys: only a SHA-256 of each key is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from authz.errors import Conflict, NotFound
from authz.events import KeyIssued, KeyRevoked
from authz.store.db import Tx
from authz.store.schema import ServiceKey


def create(t: Tx, name: str) -> str:
    """A new key for service client ``name``; returns the key itself, which is never stored."""
    if t.s.scalar(select(ServiceKey.id).where(ServiceKey.name == name)) is not None:
        raise Conflict("key_exists", f"A service client named '{name}' already has a key.")
    key = "azk_" + secrets.token_urlsafe(32)
    digest = hashlib.sha256(key.encode()).hexdigest()
    t.s.add(ServiceKey(name=name, key_hash=digest, created_at=t.now))
    t.audit("service_key.create", f"service-key:{name}", None, {"name": name})
    t.event(KeyIssued(digest, name))
    return key


def revoke(t: Tx, name: str) -> None:
    """Revoke the key of service client ``name``: every instance refuses it once it has applied this revision. The
    name stays taken (the audit trail keeps pointing at one client); a successor gets a key under a new name."""
    row = t.s.scalars(select(ServiceKey).where(ServiceKey.name == name).with_for_update()).first()
    if row is None:
        raise NotFound("unknown_key", f"No service client is named '{name}'.")
    if row.revoked_at is not None:
        raise Conflict("key_revoked", f"The key of '{name}' was revoked already.")
    row.revoked_at = t.now
    t.audit("service_key.revoke", f"service-key:{name}", {"name": name}, {"name": name, "revoked": True})
    t.event(KeyRevoked(row.key_hash, name))

"""Service API keys: only a SHA-256 of each key is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from authz.errors import Conflict
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
    t.event("key", hash=digest, name=name, active=True)
    return key

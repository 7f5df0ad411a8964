"""Service API keys (``authz service-key``): create one for a new client, revoke a client's key."""

from __future__ import annotations

from authz.service.results import Done
from authz.store import keys
from authz.store.db import Database


def create(db: Database, name: str) -> Done:
    """A key for the new service client ``name`` (409 when the name is taken); the answer holds the key itself,
    which is shown once and never stored."""
    with db.tx(actor="cli:service-key") as t:
        key = keys.create(t, name)
    return Done({"name": name, "key": key}, t.revision)


def revoke(db: Database, name: str) -> Done:
    """Every instance refuses the key of ``name`` once it has applied the revision (404 unknown, 409 revoked)."""
    with db.tx(actor="cli:service-key") as t:
        keys.revoke(t, name)
    return Done({"name": name, "revoked": True}, t.revision)

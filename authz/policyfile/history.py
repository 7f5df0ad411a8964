"""The history of one user's rights, from the audit trail: grants added and removed, status and role changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authz import values
from authz.errors import NotFound
from authz.policyfile.model import utc_text
from authz.store import policystate
from authz.store.db import Database
from authz.store.schema import Audit


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a user's rights: who made it, when, at which revision, and what it changed."""

    at: datetime
    actor: str
    action: str
    revision: int
    afnemer: str | None = None
    added: list[str] = field(default_factory=list)  # products granted (grants.replace)
    removed: list[str] = field(default_factory=list)  # products taken away
    status: tuple[str | None, str | None] | None = None  # (before, after) when the status changed
    roles_added: list[str] = field(default_factory=list)
    roles_removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"at": utc_text(self.at), "actor": self.actor, "action": self.action, "revision": self.revision,
                "afnemer": self.afnemer, "added": self.added, "removed": self.removed,
                "status": {"before": self.status[0], "after": self.status[1]} if self.status else None,
                "roles_added": self.roles_added, "roles_removed": self.roles_removed}


def user_history(db: Database, kvk: str, email: str) -> list[HistoryEntry]:
    """Every change of the rights of account ``email`` of organisation ``kvk``, oldest first (404 when the account
    is not one of ``kvk``'s)."""
    email = values.email(email, "email")
    with db.read() as s:
        if not policystate.account_in(s, kvk, email):
            raise NotFound("unknown_account", "No such account in this organisation.")
        return [e for r in policystate.account_trail(s, kvk, email) if (e := _entry(r)) is not None]


def _entry(r: Audit) -> HistoryEntry | None:
    before, after = r.before or {}, r.after or {}
    if r.action == "grants.replace":
        return HistoryEntry(r.at, r.actor, r.action, r.revision, after.get("afnemer"),
                            list(after.get("added", [])), list(after.get("removed", [])))
    old_roles, new_roles = set(before.get("roles") or ()), set(after.get("roles") or ())
    status = (before.get("status"), after.get("status")) if before.get("status") != after.get("status") else None
    if status is None and old_roles == new_roles:
        return None  # a change of the account that is not about its rights (e.g. its name)
    return HistoryEntry(r.at, r.actor, r.action, r.revision, status=status,
                        roles_added=sorted(new_roles - old_roles), roles_removed=sorted(old_roles - new_roles))

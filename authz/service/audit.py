"""Reading an organisation's audit trail (R12), newest first, for the JSON API and the portal alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authz.service.results import Page, page
from authz.store import audit
from authz.store.db import Database


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    before: Any
    after: Any
    revision: int


def trail(db: Database, org: str, *, user: str | None, product: str | None, before_id: int | None,
          limit: int) -> Page[Entry]:
    """Entries recorded on behalf of ``org``; ``user`` and ``product`` narrow them (see :func:`audit.trail`), and the
    cursor is the id of the oldest entry on the page."""
    with db.read() as s:
        rows = [Entry(a.id, a.at, a.actor, a.action, a.subject, a.before, a.after, a.revision)
                for a in audit.trail(s, org, user=user, product=product, before_id=before_id, limit=limit + 1)]
    return page(rows, limit, lambda e: e.id)

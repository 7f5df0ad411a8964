"""The operator's view of the outbox: e-mails by status (``dead``: given up after their retries), and trying a dead
one again. The sender (:mod:`authz.mail`) picks a retried e-mail up when woken after the commit, or at its next
round."""

from __future__ import annotations

from typing import Any

from authz.service.results import Done, Page, page
from authz.store import outbox
from authz.store.db import Database

STATUSES = ("dead", "pending", "sent")


def listing(db: Database, status: str, limit: int, before_id: int | None) -> Page[dict[str, Any]]:
    """E-mails in ``status``, newest first, without their bodies (they may hold live links)."""
    return page(outbox.listing(db, status, limit + 1, before_id), limit, lambda m: m["id"])


def retry(db: Database, actor: str, mail_id: int) -> Done:
    """A dead e-mail is tried again now, with a fresh count of attempts (404 unknown, 409 not dead)."""
    with db.tx(actor) as t:
        outbox.retry(t, mail_id)
    return Done({"id": mail_id, "status": "pending"}, t.revision)

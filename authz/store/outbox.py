"""The outbox's delivery side: claim due e-mails, then record what became of them.

Rows are written by :meth:`authz.store.db.Tx.mail` in the transaction of the change that causes them, so a
change and its e-mails commit together. Delivery is at least once: a claim only *leases* a row (it moves
``next_attempt_at`` forward and counts the attempt) and commits at once, so no transaction stays open during SMTP;
a sender that dies after its claim leaves the row pending, and it is tried again when the lease runs out.
These updates are bookkeeping, not changes of the domain: they bump no revision and are not audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from authz.errors import Conflict, NotFound
from authz.store.db import Database, Tx
from authz.store.schema import Outbox


@dataclass(frozen=True)
class Claimed:
    id: int
    created_at: datetime
    to_addr: str
    subject: str
    body_text: str
    body_html: str
    attempts: int  # including this one


def claim(db: Database, limit: int, lease: timedelta) -> list[Claimed]:
    """Lease up to ``limit`` due rows to this sender.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets several instances claim side by side without waiting for or
    taking each other's rows; the lease then keeps the rows away from the others after commit. SQLite has one
    writer at a time (BEGIN IMMEDIATE), which gives the same exclusivity.
    """
    with db.tx(actor="mail") as t:
        rows = list(t.s.scalars(
            select(Outbox)
            .where(Outbox.status == "pending", Outbox.next_attempt_at <= t.now)
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)))
        for r in rows:
            r.attempts += 1
            r.next_attempt_at = t.now + lease
        t.s.flush()
        return [Claimed(r.id, r.created_at, r.to_addr, r.subject, r.body_text, r.body_html, r.attempts)
                for r in rows]


def sent(db: Database, row_id: int) -> None:
    """Delivered. The bodies are cleared: they may hold a live link (activation, invitation) that must not stay
    readable in the database; recipient, subject and time remain as the delivery record."""
    with db.tx(actor="mail") as t:
        t.s.execute(update(Outbox).where(Outbox.id == row_id, Outbox.status == "pending")
                    .values(status="sent", sent_at=t.now, last_error=None, body_text="", body_html=""))


def failed(db: Database, row_id: int, error: str, retry_in: timedelta | None) -> None:
    """Not delivered: try again after ``retry_in``, or give up (``dead``) when it is None."""
    with db.tx(actor="mail") as t:
        values: dict[str, object] = {"last_error": error[:2000]}
        if retry_in is None:
            values["status"] = "dead"
        else:
            values["next_attempt_at"] = t.now + retry_in
        t.s.execute(update(Outbox).where(Outbox.id == row_id, Outbox.status == "pending").values(**values))


def counts(db: Database) -> dict[str, int]:
    """Rows per status (for metrics and tests)."""
    with db.read() as s:
        return {status: int(n) for status, n in s.execute(
            select(Outbox.status, func.count()).group_by(Outbox.status)).all()}


def listing(db: Database, status: str, limit: int, before_id: int | None = None) -> list[dict[str, Any]]:
    """The operator's view of rows in ``status``, newest first (no bodies: they may hold live links)."""
    q = select(Outbox).where(Outbox.status == status)
    if before_id is not None:
        q = q.where(Outbox.id < before_id)
    with db.read() as s:
        return [{"id": r.id, "to": r.to_addr, "subject": r.subject, "status": r.status, "attempts": r.attempts,
                 "created_at": r.created_at.isoformat(), "last_error": r.last_error,
                 "next_attempt_at": r.next_attempt_at.isoformat()}
                for r in s.scalars(q.order_by(Outbox.id.desc()).limit(limit))]


def retry(t: Tx, row_id: int) -> None:
    """A dead e-mail is tried again now, with a fresh count of attempts (404 unknown, 409 not dead)."""
    row = t.s.scalars(select(Outbox).where(Outbox.id == row_id).with_for_update()).first()
    if row is None:
        raise NotFound("unknown_mail", "No such e-mail.")
    if row.status != "dead":
        raise Conflict("mail_not_dead", f"This e-mail is {row.status}; only a dead e-mail is retried.")
    before = {"id": row.id, "to": row.to_addr, "subject": row.subject, "status": row.status,
              "attempts": row.attempts, "last_error": row.last_error}
    row.status, row.attempts, row.next_attempt_at = "pending", 0, t.now
    t.s.flush()
    t.audit("mail.retry", f"mail:{row.id}", before, {**before, "status": "pending", "attempts": 0})

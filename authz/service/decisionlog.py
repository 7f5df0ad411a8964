"""The operator's search of the decision log (SPEC §5), for the JSON API and the portal alike: filters by user,
product, afnemer and period, newest first, a page at a time. The rows are :mod:`authz.store.decisionlog`'s,
written by each instance's writer (:mod:`authz.decisionlog`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from authz.clock import AMSTERDAM
from authz.errors import Invalid
from authz.service.results import Page
from authz.store import decisionlog
from authz.store.db import Database
from authz.store.decisionlog import Found

MAX_LIMIT = 1000
REASONS = decisionlog.REASONS  # the reasons a logged decision can carry; "other" for one this version lacks
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURSOR = re.compile(r"([0-9]{1,18})\.([0-9]{1,18})")


@dataclass(frozen=True)
class Filters:
    """What the operator asks: exact user, product and afnemer; ``since`` inclusive, ``until`` exclusive."""

    user: str | None = None
    product: str | None = None
    afnemer: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def bound(text: str, name: str, end: bool) -> datetime:
    """A period's bound: an instant with its time zone (RFC 3339), or an ISO day in Europe/Amsterdam — the start
    of that day, or for the end (``end``) the start of the next, so that the day is included."""
    if _DAY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time.min, AMSTERDAM).astimezone(UTC)
        except (ValueError, OverflowError):
            raise Invalid("invalid_date", f"'{name}' is not a date: {text!r}.") from None
    try:
        at = datetime.fromisoformat(text)
        if at.tzinfo is None:
            raise ValueError(text)
        return at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid("invalid_date", f"'{name}' must be an ISO day (YYYY-MM-DD) or an instant with a time zone "
                                      f"(2026-06-15T10:00:00Z).") from None


def cursor_decode(raw: str) -> tuple[datetime, int]:
    m = _CURSOR.fullmatch(raw)
    try:
        if m is None:
            raise ValueError(raw)
        return datetime.fromtimestamp(int(m.group(1)) / 1e6, UTC), int(m.group(2))
    except (ValueError, OverflowError, OSError):
        raise Invalid("invalid_cursor", "The cursor is not one this service gave out.") from None


def cursor_encode(found: Found) -> str:
    micros = (found.at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{micros}.{found.id}"


def search(db: Database, filters: Filters, limit: int, cursor: tuple[datetime, int] | None) -> Page[Found]:
    """One page, newest first; its cursor names the last decision given (None on the last page)."""
    if filters.since is not None and filters.until is not None and filters.until <= filters.since:
        raise Invalid("invalid_period", "'until' must lie after 'since'.")
    found = decisionlog.search(db, user=filters.user, product=filters.product, afnemer=filters.afnemer,
                               since=filters.since, until=filters.until, before=cursor, limit=limit + 1)
    items = found[:limit]
    return Page(items, cursor_encode(items[-1]) if len(found) > limit else None)


def answer(d: Found) -> dict[str, Any]:
    """One decision as the JSON API gives it (SPEC §4, ``GET /v1/operator/decisions``)."""
    return {"at": d.at.isoformat().replace("+00:00", "Z"), "client": d.client, "user": d.user,
            "product": d.product, "afnemer": d.afnemer, "decision": d.allowed, "reason": d.reason,
            "revision": d.revision, "trace_id": d.trace_id, "span_id": d.span_id,
            "processing_activity_id": d.processing_activity_id, "algorithm_id": d.algorithm_id,
            "as_of": d.as_of.isoformat().replace("+00:00", "Z") if d.as_of is not None else None}

"""Reading the audit trail (R12), newest first, for the JSON API and the portal alike, and what each record says
in Dutch: the Logboek, a user's history and the CSV export all take their sentences from :func:`describe` (the
words themselves are :mod:`authz.domain.sentences`'s; the names come from the store here)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from authz.domain import sentences
from authz.errors import NotFound
from authz.service.results import Page, page
from authz.store import audit, policystate
from authz.store.db import Database
from authz.store.schema import Audit

EXPORT_BATCH = 500


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
    on_behalf_of: str | None = None


@dataclass(frozen=True)
class Described:
    """One record as people read it: when (Dutch), who, on behalf of which organisation, the sentence; and the
    raw action code beside it."""

    id: int
    at: datetime
    moment: str
    who: str
    namens: str
    sentence: str
    action: str
    actor: str  # as recorded: an account's e-mail, or what acted for the system


@dataclass(frozen=True)
class Period:
    """From ``since`` through ``until``, both days inclusive in Europe/Amsterdam time; either may be open."""

    since: date | None = None
    until: date | None = None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        start = datetime.combine(self.since, time.min, sentences.AMSTERDAM) if self.since else None
        end = (datetime.combine(self.until + timedelta(days=1), time.min, sentences.AMSTERDAM)
               if self.until else None)
        return start, end


def _entry(a: Audit) -> Entry:
    return Entry(a.id, a.at, a.actor, a.action, a.subject, a.before, a.after, a.revision, a.on_behalf_of)


def trail(db: Database, org: str | None, *, user: str | None, product: str | None, before_id: int | None,
          limit: int, period: Period | None = None) -> Page[Entry]:
    """Entries recorded on behalf of ``org`` (every organisation's when None: the operator); ``user``, ``product``
    and ``period`` narrow them (see :func:`audit.trail`), and the cursor is the id of the oldest entry on the
    page."""
    since, until = (period or Period()).bounds()
    with db.read() as s:
        rows = [_entry(a) for a in audit.trail(s, org, user=user, product=product, before_id=before_id,
                                               since=since, until=until, limit=limit + 1)]
    return page(rows, limit, lambda e: e.id)


def _record(e: Entry) -> sentences.Record:
    return sentences.Record(e.action, e.actor, e.subject, e.before, e.after, e.on_behalf_of)


def _names(db: Database, entries: Sequence[Entry]) -> sentences.Names:
    emails, codes, kvks = sentences.wanted(_record(e) for e in entries)
    with db.read() as s:
        people, products, orgs = audit.names(s, emails, codes, kvks)
    return sentences.Names(people, products, orgs)


def describe(entry: Entry, names: sentences.Names) -> Described:
    """The one place a record becomes words (the page, the history and the CSV all call it)."""
    r = _record(entry)
    return Described(entry.id, entry.at, sentences.moment(entry.at), sentences.actor(r, names),
                     names.org(entry.on_behalf_of), sentences.sentence(r, names), entry.action, entry.actor)


def described(db: Database, entries: Sequence[Entry]) -> list[Described]:
    """``entries`` described, with the names of their people, products and organisations looked up once."""
    names = _names(db, entries)
    return [describe(e, names) for e in entries]


def logbook(db: Database, org: str | None, *, user: str | None, product: str | None, period: Period,
            before_id: int | None, limit: int) -> Page[Described]:
    """A page of the Logboek: :func:`trail`, described."""
    found = trail(db, org, user=user, product=product, period=period, before_id=before_id, limit=limit)
    return Page(described(db, found.items), found.cursor)


def export(db: Database, org: str | None, *, user: str | None, product: str | None,
           period: Period) -> Iterator[Described]:
    """Every record the filters keep, newest first, described (read in batches: a trail can be long)."""
    cursor: int | None = None
    while True:
        found = trail(db, org, user=user, product=product, period=period, before_id=cursor, limit=EXPORT_BATCH)
        yield from described(db, found.items)
        if found.cursor is None:
            return
        cursor = int(found.cursor)


def user_history(db: Database, org: str, email: str) -> list[Described]:
    """Every change recorded about account ``email`` of organisation ``org``, newest first (404 when it is not
    one of ``org``'s)."""
    with db.read() as s:
        if not policystate.account_in(s, org, email):
            raise NotFound("unknown_account", "No such account in this organisation.")
        entries = [_entry(a) for a in reversed(policystate.account_trail(s, org, email))]
    return described(db, entries)

"""The database: engine, and the one transaction every change goes through.

A :class:`Tx` collects the audit records, change events and e-mails of one beheerder or operator action. On
commit it bumps the global revision (the row lock on ``revision`` orders concurrent writers, so revisions commit in
order), writes the change log entry, the audit records and the outbox rows, and commits them together with the
change itself: all or nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from authz.clock import Clock
from authz.errors import Conflict
from authz.events import Event, MalformedEvent, Reload, decode_all, encode_all
from authz.store import holders
from authz.store.holders import Holders
from authz.store.schema import Audit, Change, Outbox, Revision

log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    # hide_parameters: an error's text (logged, and kept in exceptions) never holds the values of its statement,
    # which may be a password hash, a token or an e-mail address.
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               poolclass=NullPool if ":memory:" not in url else None, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, say when transactions begin; WAL lets readers run beside a writer.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE: a writer takes the write lock at the start, so two writers queue instead of deadlocking.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True)


@dataclass
class Mail:
    to: str
    subject: str
    text: str
    html: str


@dataclass
class Tx:
    """One unit of work. ``s`` is the SQLAlchemy session; the rest is written at commit."""

    s: Session
    actor: str
    on_behalf_of: str | None
    now: datetime
    audits: list[tuple[str, str, Any, Any, str | None]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    mails: list[Mail] = field(default_factory=list)
    revision: int = 0
    holders: Holders | None = None  # read at commit
    logged: Any = None  # the events as the change log holds them

    def audit(self, action: str, subject: str, before: Any, after: Any, org: str | None = None) -> None:
        """Record a change (R12): who (the Tx's actor), when, for which organisation, before and after."""
        self.audits.append((action, subject, before, after, org if org is not None else self.on_behalf_of))

    def event(self, event: Event) -> None:
        """A change the in-memory deciders must apply (see :mod:`authz.decider`)."""
        self.events.append(event)

    def mail(self, to: str, subject: str, text: str, html: str) -> None:
        self.mails.append(Mail(to, subject, text, html))


def read_events(revision: int, stored: Any) -> list[Event]:
    """A change log entry's events; one this version cannot read (a newer version's, or damaged) reads as
    :class:`~authz.events.Reload`: the deciders read the tables instead."""
    try:
        return decode_all(stored)
    except MalformedEvent as exc:
        log.warning("the change log's revision %s holds events this version cannot read (%s): reloading", revision,
                    exc)
        return [Reload()]


@dataclass(frozen=True)
class Commit:
    """One committed write transaction: its revision, its events, and the lease holders read before it committed
    (see :mod:`authz.store.holders`)."""

    revision: int
    events: list[Event]
    holders: Holders


@dataclass
class Written:
    """The revisions committed while one request was served (or one command ran): its answer may leave only once
    every instance has applied them or can no longer answer (R11; :func:`authz.service.commit.after_commit`)."""

    revisions: list[int] = field(default_factory=list)
    # What each of those commits brought and who held a lease then: the writer announces and applies the events
    # without reading them back, and waits for those holders without asking SQL again.
    commits: dict[int, Commit] = field(default_factory=dict)
    confirmed_through: int = 0  # every revision up to this one was confirmed (or waited for) already
    unconfirmed: bool = False  # some instance's lease ran out instead of its confirmation arriving

    @property
    def waiting(self) -> int | None:
        """The newest revision not yet waited for, if any."""
        newest = max(self.revisions, default=0)
        return newest if newest > self.confirmed_through else None


_written: ContextVar[Written | None] = ContextVar("authz_written", default=None)


@contextlib.contextmanager
def tracking() -> Iterator[Written]:
    """Collect the revisions that transactions commit in this context (the request's task, and the threads it runs
    use cases in: they run in a copy of its context, which holds the same :class:`Written`)."""
    w = Written()
    token = _written.set(w)
    try:
        yield w
    finally:
        _written.reset(token)


def written() -> Written | None:
    return _written.get()


class Database:
    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.clock = clock or Clock()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session; rolled back at the end."""
        with self._sessions() as s, s.begin():
            yield s
            s.rollback()

    @contextlib.contextmanager
    def tx(self, actor: str, on_behalf_of: str | None = None) -> Iterator[Tx]:
        """One write transaction. Commits the change, its audit, its events and its e-mails, or none of them."""
        with self._sessions() as s:
            try:
                with s.begin():
                    t = Tx(s=s, actor=actor, on_behalf_of=on_behalf_of, now=self.clock.now())
                    yield t
                    if t.audits or t.events or t.mails:
                        s.flush()
                        self._finish(t)
            except IntegrityError as exc:
                raise Conflict("conflict", "That conflicts with data that already exists.") from exc
            w = _written.get()
            if t.revision and w is not None:
                w.revisions.append(t.revision)
                if t.holders is not None:
                    # Read back from their wire form: the writer applies exactly what the others apply.
                    w.commits[t.revision] = Commit(t.revision, read_events(t.revision, t.logged), t.holders)

    def _finish(self, t: Tx) -> None:
        s = t.s
        t.revision = s.execute(
            update(Revision).where(Revision.id == 1).values(value=Revision.value + 1).returning(Revision.value)
        ).scalar_one()
        t.logged = encode_all(t.events)
        s.add(Change(revision=t.revision, at=t.now, events=t.logged))
        for action, subject, before, after, org in t.audits:
            s.add(Audit(at=t.now, actor=t.actor, on_behalf_of=org, action=action, subject=subject,
                        before=before, after=after, revision=t.revision))
        for m in t.mails:
            s.add(Outbox(created_at=t.now, to_addr=m.to, subject=m.subject, body_text=m.text, body_html=m.html,
                         status="pending", attempts=0, next_attempt_at=t.now))
        s.flush()
        t.holders = holders.read(s.connection())  # under the revision row's lock: see authz.store.holders

    def revision(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(Revision.value).where(Revision.id == 1)).scalar_one())

    def changes_since(self, revision: int, limit: int = 10_000) -> list[tuple[int, list[Event]]]:
        """The change log after ``revision``, in order. A revision whose events this version cannot read (a newer
        version's, or damaged) reads as :class:`~authz.events.Reload`: the deciders read the tables instead."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(Change.revision, Change.events)
                .where(Change.revision > revision)
                .order_by(Change.revision)
                .limit(limit)
            ).all()
        return [(int(r), read_events(int(r), ev)) for r, ev in rows]

    def ping(self) -> None:
        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))

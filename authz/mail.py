"""E-mail delivery: the only module that talks SMTP.

Changes write their e-mails to the outbox in their own transaction (:meth:`authz.store.db.Tx.mail`). The
:class:`Mailer`, started in the app's lifespan, delivers what is due every ``settings.mail_interval`` seconds
(and at once when a request :meth:`Mailer.kick`\\ s it). :func:`deliver_due` does one round synchronously: tests and
one-off tools call it directly.

Two transports behind one small interface: SMTP when ``settings.smtp_url`` is set (``smtp://host:port``;
``smtps://`` for TLS; ``user:password@`` to log in), otherwise ``.eml`` files in ``settings.outbox_dir``. A failed
delivery is tried again with exponential back-off; after :data:`MAX_ATTEMPTS` attempts, or at once when the server
refuses it permanently (5xx), the row becomes ``dead``: kept, with its error, and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from starlette.concurrency import run_in_threadpool

from authz.config import Settings
from authz.store import outbox
from authz.store.db import Database
from authz.store.outbox import Claimed

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # 30 s, 1, 2, 4, 8, 16 and 32 min apart: about an hour of trying
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)
# A claimed row is left alone by other senders this long; if this sender dies, the row is tried again after it.
LEASE = timedelta(minutes=10)
BATCH = 50
SMTP_TIMEOUT = 30.0
SENDER_NAME = "Mijn Gegevensdiensten"

Send = Callable[[Claimed, EmailMessage], str]  # delivers one message; returns where it went (for the log)


class Transport(Protocol):
    def connect(self) -> contextlib.AbstractContextManager[Send]: ...


class SmtpTransport:
    """Delivery to an SMTP server; one connection per round."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"AUTHZ_SMTP_URL must look like smtp://host:port, not {url!r}")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None

    @contextlib.contextmanager
    def connect(self) -> Iterator[Send]:
        smtp: smtplib.SMTP
        if self.tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
        try:
            if self.user is not None:
                smtp.login(self.user, self.password or "")

            def send(row: Claimed, msg: EmailMessage) -> str:
                smtp.send_message(msg)
                return f"smtp://{self.host}:{self.port}"

            yield send
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()


class FileTransport:
    """Without SMTP: each e-mail becomes an ``.eml`` file (openable in any mail program) and a log line."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextlib.contextmanager
    def connect(self) -> Iterator[Send]:
        self.directory.mkdir(parents=True, exist_ok=True)

        def send(row: Claimed, msg: EmailMessage) -> str:
            path = self.directory / f"{row.created_at:%Y%m%dT%H%M%SZ}-{row.id:08d}.eml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(bytes(msg))
            os.replace(tmp, path)  # whole files only: a reader never sees half a message
            return str(path)

        yield send


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url)
    return FileTransport(settings.outbox_dir)


def build_message(row: Claimed, from_addr: str) -> EmailMessage:
    """A multipart/alternative message (plain text and HTML) for an outbox row."""
    msg = EmailMessage()
    msg["From"] = formataddr((SENDER_NAME, from_addr))
    msg["To"] = row.to_addr
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    domain = from_addr.rpartition("@")[2] or "localhost"
    # Stable per row, so a message delivered twice (at least once, see authz.store.outbox) is seen as one.
    msg["Message-ID"] = f"<outbox.{row.id}.{int(row.created_at.timestamp())}@{domain}>"
    msg.set_content(row.body_text)
    msg.add_alternative(row.body_html, subtype="html")
    return msg


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    wait: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(wait, LAST_RETRY)


def _permanent(exc: Exception) -> bool:
    """The server refused the message for good (5xx): trying again cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


class Unsendable(Exception):
    """A message that could not be built or handed over for a reason other than the server or the network. Its text
    (kept as the row's error and logged) is the exception's type and the first line of its message, cut short; no
    traceback and nothing of the row (a body holds a live link)."""


def _unsendable(exc: Exception) -> Unsendable:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return Unsendable(f"{type(exc).__name__}: {first[:200]}")


def _failed(db: Database, row: Claimed, exc: Exception, max_attempts: int) -> None:
    error = f"{type(exc).__name__}: {exc}"
    if _permanent(exc) or row.attempts >= max_attempts:
        outbox.failed(db, row.id, error, None)
        log.error("e-mail %s to %s (%s) given up after %s attempt(s): %s", row.id, row.to_addr, row.subject,
                  row.attempts, error)
    else:
        wait = backoff(row.attempts)
        outbox.failed(db, row.id, error, wait)
        log.warning("e-mail %s to %s not delivered (attempt %s), next try in %s: %s", row.id, row.to_addr,
                    row.attempts, wait, error)


def _deliver(db: Database, rows: list[Claimed], transport: Transport, from_addr: str, max_attempts: int) -> int:
    delivered = 0
    left = list(rows)
    try:
        with transport.connect() as send:
            while left:
                row = left[0]
                try:
                    where = send(row, build_message(row, from_addr))
                except (smtplib.SMTPException, OSError) as exc:
                    _failed(db, row, exc, max_attempts)
                except Exception as exc:  # this message only; the batch goes on
                    # A row the e-mail package cannot turn into a message (a subject that cannot be a header, an
                    # address it cannot encode): that message's failed attempt, never the whole claimed batch's,
                    # which would stay pending for ever, retried every LEASE and never dead.
                    _failed(db, row, _unsendable(exc), max_attempts)
                else:
                    outbox.sent(db, row.id)
                    delivered += 1
                    log.info("e-mail %s to %s (%s) delivered: %s", row.id, row.to_addr, row.subject, where)
                left.pop(0)
    except (smtplib.SMTPException, OSError) as exc:  # no connection, or it broke: the rest waits for the next try
        for row in left:
            _failed(db, row, exc, max_attempts)
    return delivered


def deliver_due(db: Database, settings: Settings, *, max_attempts: int = MAX_ATTEMPTS) -> int:
    """Deliver every e-mail that is due now (by ``db.clock``); returns how many were delivered."""
    transport = transport_for(settings)
    total = 0
    while True:
        rows = outbox.claim(db, BATCH, LEASE)
        if rows:
            total += _deliver(db, rows, transport, settings.mail_from, max_attempts)
        if len(rows) < BATCH:  # claimed rows are leased, so this loop ends even when every delivery fails
            return total


class Mailer:
    """The background sender of one instance. With ``mail_interval <= 0`` it does not run (tests deliver
    explicitly with :func:`deliver_due`)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        transport_for(self.settings)  # a malformed AUTHZ_SMTP_URL stops the start, not every later round
        if self.settings.mail_interval > 0:
            self._task = asyncio.create_task(self._run(), name="authz-mail-sender")

    async def stop(self) -> None:
        """Stop after the round in progress. Not by cancelling: a cancelled task abandons its worker thread, which
        would go on using the database after the lifespan has disposed of it."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def kick(self) -> None:
        """Deliver soon, without waiting for the interval (called after a change that wrote e-mails)."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.mail_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                await run_in_threadpool(deliver_due, self.db, self.settings)
            except Exception:  # the sender must outlive a database outage; the rows wait in the outbox
                log.exception("the e-mail sender failed; trying again in %s s", self.settings.mail_interval)

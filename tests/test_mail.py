"""E-mail delivery from the outbox: a real SMTP server (aiosmtpd) on loopback, and .eml files without one."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.mail import LEASE, MAX_ATTEMPTS, Mailer, SmtpTransport, backoff, deliver_due
from authz.store import outbox
from authz.store.db import Database
from authz.store.schema import Outbox
from tests.factories import PASSWORD, World
from tests.mailbox import Mailbox, free_port, html_of, subject_of, text_of

TO = "anna@korenschoof.nl"


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    box = Mailbox(refuse=frozenset({"weg@korenschoof.nl"})).start()
    yield box
    box.stop()


def smtp_settings(settings: Settings, port: int) -> Settings:
    return dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}", mail_interval=0)


def write_mail(db: Database, to: str = TO, n: int = 1) -> None:
    with db.tx("test") as t:
        for i in range(n):
            t.mail(to, f"Onderwerp {i} — één", f"Tekst {i}\nmet een link https://x.nl/activeren/abc",
                   f"<p>HTML {i} &amp; meer</p>")


def rows(db: Database) -> list[Any]:
    with db.engine.connect() as c:
        return list(c.execute(sa.select(Outbox.__table__).order_by(Outbox.id)))


def test_delivers_multipart_mail_over_smtp(db: Database, settings: Settings, smtp: Mailbox, clock: FrozenClock
                                           ) -> None:
    write_mail(db)
    assert deliver_due(db, smtp_settings(settings, smtp.port)) == 1
    (msg,) = smtp.messages
    assert subject_of(msg) == "Onderwerp 0 — één"
    assert msg["To"] == TO
    assert msg["From"].addresses[0].addr_spec == "noreply@gegevensdiensten.nl"
    assert msg["From"].addresses[0].display_name == "Mijn Gegevensdiensten"
    assert msg["Message-ID"].endswith("@gegevensdiensten.nl>")
    assert msg.get_content_type() == "multipart/alternative"
    assert text_of(msg).splitlines()[:2] == ["Tekst 0", "met een link https://x.nl/activeren/abc"]
    assert "<p>HTML 0 &amp; meer</p>" in html_of(msg)
    assert smtp.envelopes == [("noreply@gegevensdiensten.nl", [TO])]
    (row,) = rows(db)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, clock.now())
    # the delivery record stays; the bodies (which may hold a live link) do not
    assert (row.to_addr, row.body_text, row.body_html) == (TO, "", "")
    assert deliver_due(db, smtp_settings(settings, smtp.port)) == 0
    assert len(smtp.messages) == 1


def test_from_address_is_configurable(db: Database, settings: Settings, smtp: Mailbox) -> None:
    write_mail(db)
    custom = dataclasses.replace(smtp_settings(settings, smtp.port), mail_from="portaal@example.nl")
    assert deliver_due(db, custom) == 1
    assert smtp.messages[0]["From"].addresses[0].addr_spec == "portaal@example.nl"
    assert smtp.envelopes[0][0] == "portaal@example.nl"


def test_retries_with_backoff_until_the_smtp_server_is_up(db: Database, settings: Settings, clock: FrozenClock
                                                          ) -> None:
    port = free_port()
    down = smtp_settings(settings, port)
    write_mail(db, n=3)
    assert deliver_due(db, down) == 0
    assert [(r.status, r.attempts, r.next_attempt_at) for r in rows(db)] == \
        [("pending", 1, clock.now() + timedelta(seconds=30))] * 3
    assert all("Connection refused" in r.last_error or "ConnectionRefused" in r.last_error for r in rows(db))
    box = Mailbox(port).start()
    try:
        assert deliver_due(db, down) == 0  # not due yet: nobody hammers a server that was just down
        clock.advance(seconds=29)
        assert deliver_due(db, down) == 0
        clock.advance(seconds=1)
        assert deliver_due(db, down) == 3
        assert sorted(subject_of(m) for m in box.messages) == [f"Onderwerp {i} — één" for i in range(3)]
        assert [(r.status, r.attempts, r.last_error) for r in rows(db)] == [("sent", 2, None)] * 3
    finally:
        box.stop()


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_gives_up_after_the_last_attempt_and_says_so(db: Database, settings: Settings, clock: FrozenClock,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    down = smtp_settings(settings, free_port())
    write_mail(db)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver_due(db, down) == 0
        (row,) = rows(db)
        assert row.attempts == attempt
        assert row.status == ("dead" if attempt == MAX_ATTEMPTS else "pending")
        clock.advance(hours=1)
    assert any(r.levelno == logging.ERROR and "given up" in r.getMessage() for r in caplog.records)
    clock.advance(days=30)
    assert deliver_due(db, down) == 0
    (row,) = rows(db)
    assert (row.status, row.attempts) == ("dead", MAX_ATTEMPTS)
    assert row.body_text.startswith("Tekst 0")  # a dead e-mail is kept whole, to look into and resend


def test_permanent_refusal_is_dead_at_once_and_spares_the_rest(db: Database, settings: Settings, smtp: Mailbox
                                                               ) -> None:
    write_mail(db, to="weg@korenschoof.nl")
    write_mail(db, to=TO)
    assert deliver_due(db, smtp_settings(settings, smtp.port)) == 1
    dead, sent = rows(db)
    assert (dead.status, dead.attempts) == ("dead", 1)
    assert "550" in dead.last_error
    assert sent.status == "sent"
    assert [m["To"] for m in smtp.messages] == [TO]


def test_writes_eml_files_without_smtp(db: Database, settings: Settings, outbox_dir: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="authz.mail")
    write_mail(db, n=2)
    assert settings.smtp_url is None
    assert deliver_due(db, settings) == 2
    files = sorted(outbox_dir.glob("*.eml"))
    assert [f.name for f in files] == ["20260615T100000Z-00000001.eml", "20260615T100000Z-00000002.eml"]
    msg = message_from_bytes(files[0].read_bytes(), policy=default)
    assert isinstance(msg, EmailMessage)
    assert subject_of(msg) == "Onderwerp 0 — één"
    assert msg["To"] == TO
    assert text_of(msg).startswith("Tekst 0") and "HTML 0" in html_of(msg)
    assert not list(outbox_dir.glob("*.tmp"))
    logged = [r.getMessage() for r in caplog.records if r.name == "authz.mail"]
    assert any(TO in m and str(files[0]) in m for m in logged)
    assert all("activeren/abc" not in m for m in logged)  # links stay out of the log
    assert [r.status for r in rows(db)] == ["sent", "sent"]


@pytest.mark.parametrize("subject", ["Jo\u2028Bcc: x@y", "Jo\r\nBcc: x@y"])
def test_a_message_that_cannot_be_built_fails_alone_and_dies_in_the_end(
        db: Database, settings: Settings, smtp: Mailbox, clock: FrozenClock, caplog: pytest.LogCaptureFixture,
        subject: str) -> None:
    """A subject that cannot be a header (written before the free-text parser refused it, or by any other way in)
    made the e-mail package raise ValueError in the middle of a round: the whole claimed batch was abandoned, no
    attempt was recorded, and every mail of it stayed pending for ever, claimed again every LEASE. Now it is that
    message's failed attempt, with back-off and in the end a dead letter; the others go out."""
    caplog.set_level(logging.INFO, logger="authz.mail")
    write_mail(db)
    with db.tx("test") as t:
        t.mail(TO, subject, "Tekst met een link https://x.nl/activeren/geheimtoken123", "<p>HTML</p>")
    write_mail(db)
    up = smtp_settings(settings, smtp.port)
    assert deliver_due(db, up) == 2
    assert [subject_of(m) for m in smtp.messages] == ["Onderwerp 0 — één"] * 2
    first, bad, last = rows(db)
    assert (first.status, last.status) == ("sent", "sent")
    assert (bad.status, bad.attempts, bad.next_attempt_at) == ("pending", 1, clock.now() + timedelta(seconds=30))
    assert "ValueError" in bad.last_error and "geheimtoken123" not in bad.last_error
    for attempt in range(2, MAX_ATTEMPTS + 1):
        clock.advance(hours=1)
        assert deliver_due(db, up) == 0
        (bad,) = (r for r in rows(db) if r.id == bad.id)
        assert bad.attempts == attempt
        assert bad.status == ("dead" if attempt == MAX_ATTEMPTS else "pending")
    assert len(smtp.messages) == 2
    assert any(r.levelno == logging.ERROR and "given up" in r.getMessage() for r in caplog.records)
    assert "geheimtoken123" not in caplog.text and "Traceback" not in caplog.text


def test_a_rolled_back_change_sends_nothing(db: Database, settings: Settings) -> None:
    with pytest.raises(RuntimeError), db.tx("test") as t:
        t.mail(TO, "Onderwerp", "Tekst", "<p>HTML</p>")
        raise RuntimeError("the change failed")
    assert rows(db) == []
    assert deliver_due(db, settings) == 0


def test_a_sender_that_dies_after_its_claim_loses_nothing(db: Database, settings: Settings, smtp: Mailbox,
                                                          clock: FrozenClock) -> None:
    write_mail(db)
    up = smtp_settings(settings, smtp.port)
    assert len(outbox.claim(db, 10, LEASE)) == 1  # claimed, then the process died before sending
    assert deliver_due(db, up) == 0  # the lease keeps other senders off it for a while
    clock.advance(seconds=LEASE.total_seconds())
    assert deliver_due(db, up) == 1
    assert len(smtp.messages) == 1


def test_concurrent_senders_never_claim_the_same_mail(db_url: str, db: Database, clock: FrozenClock) -> None:
    write_mail(db, n=60)
    senders = [Database(db_url, clock) for _ in range(3)]
    claimed: list[list[int]] = [[] for _ in senders]
    start = threading.Barrier(len(senders))

    def run(i: int) -> None:
        start.wait()
        while batch := outbox.claim(senders[i], 4, LEASE):
            claimed[i].extend(r.id for r in batch)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(senders))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for s in senders:
        s.dispose()
    every = [i for ids in claimed for i in ids]
    assert sorted(every) == [r.id for r in rows(db)]  # each row exactly once


def test_postgres_claim_skips_rows_another_sender_holds(pg_url: str, clock: FrozenClock) -> None:
    db = Database(pg_url, clock)
    try:
        write_mail(db, n=3)
        with db.engine.connect() as other:
            trans = other.begin()
            held = other.execute(sa.select(Outbox.id).order_by(Outbox.id).limit(1).with_for_update()).scalar_one()
            started = time.monotonic()
            got = outbox.claim(db, 10, LEASE)  # does not wait for the other transaction
            assert time.monotonic() - started < 2
            assert held not in [r.id for r in got] and len(got) == 2
            trans.rollback()
        # the two it got are leased; the one that was held is due and claimed next
        assert [r.id for r in outbox.claim(db, 10, LEASE)] == [held]
    finally:
        db.dispose()


def test_stopping_the_sender_lets_its_round_finish(db: Database, settings: Settings, smtp: Mailbox) -> None:
    """Cancelling would abandon the worker thread mid-delivery, to use a database the lifespan then disposes of."""
    write_mail(db)
    smtp.hold = threading.Event()
    mailer = Mailer(db, dataclasses.replace(smtp_settings(settings, smtp.port), mail_interval=60))

    async def scenario() -> bool:
        await mailer.start()
        mailer.kick()
        while not smtp.entered.is_set():  # the sender is inside its SMTP conversation
            await asyncio.sleep(0.01)
        stopping = asyncio.create_task(mailer.stop())
        await asyncio.sleep(0.2)
        finished_early = stopping.done()
        assert smtp.hold is not None
        smtp.hold.set()
        await stopping
        return finished_early

    assert asyncio.run(scenario()) is False
    assert [r.status for r in rows(db)] == ["sent"]


def test_malformed_smtp_url_is_refused() -> None:
    for url in ("http://mail.example.nl", "smtp://", "mail.example.nl:25"):
        with pytest.raises(ValueError):
            SmtpTransport(url)


def test_the_app_sends_in_the_background(settings: Settings, clock: FrozenClock, world: World, outbox_dir: Path,
                                         service_key: str) -> None:
    """The lifespan starts the sender; a change's e-mails go out without anyone calling deliver_due."""
    world.org("11111111", "Bakkerij De Korenschoof")
    world.beheerder("anna@korenschoof.nl", "11111111")
    fast = dataclasses.replace(settings, mail_interval=0.05)
    with TestClient(create_app(fast, clock)) as c:
        r = c.post("/v1/registrations", json={"email": "carla@korenschoof.nl", "password": PASSWORD,
                                              "kvk": "11111111"})
        assert r.status_code == 202
        deadline = time.monotonic() + 10  # waiting for another thread, not for the clock
        while not list(outbox_dir.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.02)
    (path,) = outbox_dir.glob("*.eml")
    msg = message_from_bytes(path.read_bytes(), policy=default)
    assert msg["To"] == "anna@korenschoof.nl"
    assert isinstance(msg, EmailMessage)
    assert "Nieuwe accountaanvraag" in subject_of(msg)


def test_every_message_has_a_subject_plain_text_and_html_in_the_layout() -> None:
    from authz.messages import TEMPLATES

    names = {p.name.removesuffix(".subject.txt") for p in TEMPLATES.glob("*.subject.txt")}
    assert {"invitation", "invitation_accepted", "activation_link", "account_deactivated", "account_reactivated",
            "password_reset", "password_changed"} <= names
    for name in names:
        assert (TEMPLATES / f"{name}.txt").is_file(), name
        html = (TEMPLATES / f"{name}.html").read_text()
        assert html.startswith('{% extends "_layout.html" %}'), name
        assert len((TEMPLATES / f"{name}.subject.txt").read_text().strip().splitlines()) == 1, name
        for part in (f"{name}.txt", f"{name}.html", f"{name}.subject.txt"):  # no value that could be a password
            assert not re.search(r"{{[^}]*(password|wachtwoord|hash)", (TEMPLATES / part).read_text()), part

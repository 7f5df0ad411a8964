"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, and helpers to read delivered e-mails."""

from __future__ import annotations

import re
import socket
import threading
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from authz.store.db import Database
from authz.store.schema import (
    Account,
    AccountRequest,
    Audit,
    CasbinRule,
    Organisation,
    Outbox,
    Role,
    Token,
)

LINK_RE = re.compile(r"https?://\S+/activeren/([A-Za-z0-9_-]+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Mailbox:
    """An SMTP server on 127.0.0.1:``port``; ``messages`` holds every message it accepted, parsed."""

    def __init__(self, port: int | None = None, refuse: frozenset[str] = frozenset()) -> None:
        self.port = port or free_port()
        self.refuse = refuse  # recipients answered with a permanent 550
        # When set: DATA signals ``entered`` and then waits for ``hold`` (to catch a sender in mid-delivery).
        self.hold: threading.Event | None = None
        self.entered = threading.Event()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.entered.set()
        if self.hold is not None:
            self.hold.wait(10)  # blocks the server's own thread only
        msg = message_from_bytes(envelope.content, policy=default)
        assert isinstance(msg, EmailMessage)
        with self._lock:
            self.messages.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def start(self) -> Mailbox:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


def subject_of(msg: EmailMessage) -> str:
    """The subject as a mail program shows it (a folded header unfolds with a leading space)."""
    return " ".join(str(msg["Subject"]).split())


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    content: str = part.get_content()
    return content


def activation_token(msg: EmailMessage) -> str:
    """The token of the activation link in an e-mail (from its plain text; the HTML carries the same link)."""
    found = LINK_RE.findall(text_of(msg))
    assert len(set(found)) == 1, text_of(msg)
    assert found[0] in html_of(msg)
    token: str = found[0]
    return token


def count(db: Database, table: type) -> int:
    with db.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def footprint(db: Database) -> tuple[int, ...]:
    """Everything an account action could change: if this is equal before and after, nothing changed.

    Sessions are left out: logging in (which tests do between the two counts) makes them."""
    tables = (Organisation, Account, Role, AccountRequest, Token, CasbinRule, Audit, Outbox)
    return (db.revision(), *(count(db, t) for t in tables))


def error_of(r: Any) -> str:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    code: str = body["error"]["code"]
    return code

"""Fixtures: real SQLite and PostgreSQL databases (a throwaway one per test), a frozen clock, the app, a key.

PostgreSQL and Redis are the machine's real servers (127.0.0.1); when they cannot be reached the tests fail,
they are never skipped. Override with AUTHZ_TEST_PG (an admin URL) and AUTHZ_TEST_REDIS.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.store import keys
from authz.store.db import Database
from authz.store.migrate import upgrade
from tests import conformance
from tests.factories import PG_ADMIN_URL, World

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)


def _pg_url(name: str) -> str:
    return sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this run, migrated once; tests empty it before use."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"authz_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    upgrade(_pg_url(name))
    yield name
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_pg(url: str) -> None:
    """Empty every table (as a fresh migration leaves it). The audit trail's append-only triggers are bypassed
    for this one session only (session_replication_role needs the superuser the tests run as)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as c:
        tables = [t for (t,) in c.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"))]
        c.execute(sa.text("SET LOCAL session_replication_role = replica"))
        c.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        c.execute(sa.text("INSERT INTO revision (id, value) VALUES (1, 0)"))
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def _fresh_pg(request: pytest.FixtureRequest) -> Iterator[str]:
    url = _pg_url(request.getfixturevalue("pg_database"))
    _empty_pg(url)
    yield url


def _fresh_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    path = tmp_path / "authz.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield _fresh_sqlite(request, tmp_path)
    else:
        yield from _fresh_pg(request)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _fresh_sqlite(request, tmp_path)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _fresh_pg(request)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def db(db_url: str, clock: FrozenClock) -> Iterator[Database]:
    database = Database(db_url, clock)
    yield database
    database.dispose()


@pytest.fixture
def world(db: Database) -> World:
    return World(db)


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def settings(db_url: str, outbox_dir: Path, tmp_path: Path) -> Settings:
    # mail_interval=0: no background sender, so a test reads the outbox as its change left it (a delivered row
    # loses its bodies); tests that want e-mails delivered call authz.mail.deliver_due themselves.
    # mfa_required="none": the tests of everything else log in as beheerders without a second factor; the tests of
    # R17 (tests/test_mfa*.py) give their own.
    # The decision log's journal in the test's own directory (tests/test_decision_log.py reads it).
    return Settings(database_url=db_url, secret_key="test-secret", outbox_dir=outbox_dir, lease_seconds=1.0,
                    mail_interval=0, mfa_required="none", decision_log_dir=tmp_path / "decision-log")


@pytest.fixture
def service_key(db: Database) -> str:
    with db.tx(actor="test") as t:
        return keys.create(t, f"test-client-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def client(settings: Settings, clock: FrozenClock, service_key: str) -> Iterator[TestClient]:
    """The app, started (lifespan), as a session-less client."""
    with TestClient(create_app(settings, clock), base_url="http://testserver") as c:
        c.event_hooks = conformance.hooks()
        yield c


@pytest.fixture
def api(client: TestClient, service_key: str) -> TestClient:
    """The client with a service key: the decision API's caller."""
    client.headers["Authorization"] = f"Bearer {service_key}"
    return client


def sync(client: TestClient) -> int:
    """Let the app catch up with what the test wrote straight into the database; returns its revision."""
    st: Any = client.app.state.authz  # type: ignore[attr-defined]
    revision: int = client.portal.call(st.sync.catch_up)  # type: ignore[union-attr]
    return revision


def login(client: TestClient, email: str) -> TestClient:
    """Give ``client`` a session of the account ``email`` (made in the store, as a login would)."""
    from authz.store import accounts, sessions

    st: Any = client.app.state.authz  # type: ignore[attr-defined]
    with st.db.tx(actor="test") as t:
        token = sessions.create(t.s, accounts.get(t, email).id, t.now)
    client.cookies.set("authz_session", token)
    return client


# -- e-mail through a real SMTP server (aiosmtpd): for tests that follow the links in what they receive ------------

@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Any]:
    from tests.mailbox import Mailbox

    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture
def smtp(smtp_server: Any) -> Any:
    """The session's SMTP server, emptied for this test (a module may override it, e.g. to refuse recipients)."""
    smtp_server.messages.clear()
    smtp_server.envelopes.clear()
    return smtp_server


def delivered(client: TestClient, smtp: Any, to: str) -> list[Any]:
    """Deliver what the app's outbox holds (as its sender would), then what the SMTP server got for ``to``."""
    from authz.mail import deliver_due

    st: Any = client.app.state.authz  # type: ignore[attr-defined]
    deliver_due(st.db, st.settings)
    found: list[Any] = smtp.to(to)
    return found


def link_token(msg: Any, page: str) -> str:
    """The token of the one ``{base_url}/{page}/{token}`` link in an e-mail; the HTML part carries the same one."""
    import re

    from tests.mailbox import html_of, text_of

    found = set(re.findall(rf"https?://\S+/{page}/([A-Za-z0-9_-]+)", text_of(msg)))
    assert len(found) == 1, text_of(msg)
    token = found.pop()
    assert f"/{page}/{token}" in html_of(msg)
    return token


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright, one for the whole run: every browser test shares it (a second sync
    Playwright cannot start while one is running)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch

    with sync_playwright() as pw:
        browser = launch(pw)
        yield browser
        browser.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh Redis key prefix for this test; its keys are deleted afterwards."""
    import redis

    from tests.factories import REDIS_URL

    prefix = f"authz-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()

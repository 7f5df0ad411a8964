"""Service keys from the command line: created once, revoked for every instance, audited."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from authz import cli
from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.store.db import Database
from authz.store.schema import Audit
from tests.conftest import sync
from tests.factories import REDIS_URL, World

CHECK = {"user": "niemand@bakkerij.nl", "product": "polis"}


@pytest.fixture
def redis_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Redis with a fresh prefix and no SQL poll worth the name: only an announcement brings news in time."""
    cfg = replace(settings, redis_url=REDIS_URL, redis_prefix=f"authz-test-{uuid.uuid4().hex[:8]}:",
                  lease_seconds=3600.0)
    for name, value in (("AUTHZ_DATABASE_URL", cfg.database_url), ("AUTHZ_REDIS_URL", REDIS_URL),
                        ("AUTHZ_REDIS_PREFIX", cfg.redis_prefix), ("AUTHZ_SECRET_KEY", cfg.secret_key)):
        monkeypatch.setenv(name, value)
    yield cfg


def create_key(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["service-key", "create", name]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def status(client: TestClient, key: str) -> int:
    return client.post("/v1/check", json=CHECK, headers={"Authorization": f"Bearer {key}"}).status_code


def test_a_revoked_key_is_refused_at_once_and_the_revocation_audited(
        redis_settings: Settings, clock: FrozenClock, db: Database, world: World,
        capsys: pytest.CaptureFixture[str]) -> None:
    key = create_key("portaal", capsys)
    with TestClient(create_app(redis_settings, clock), base_url="http://testserver") as client:
        st = client.app.state.authz  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while not st.sync.bus.live(1.0):  # subscribed: from now on the poll sleeps for an hour
            assert time.monotonic() < deadline, "the Redis subscription did not come up"
            time.sleep(0.02)
        time.sleep(0.5)  # past the poll's first quick turn (taken before the subscription was live)
        sync(client)
        assert status(client, key) == 200
        assert cli.main(["service-key", "revoke", "portaal"]) == 0
        deadline = time.monotonic() + 5  # the announcement, not the (hour-long) poll, brings it
        while status(client, key) != 401:
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.02)
    with db.read() as s:
        actions = s.scalars(sa.select(Audit.action).where(Audit.subject == "service-key:portaal")
                            .order_by(Audit.id)).all()
    assert actions == ["service_key.create", "service_key.revoke"]


def test_revoking_an_unknown_or_revoked_key_says_so_and_changes_nothing(
        redis_settings: Settings, db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    create_key("portaal", capsys)
    assert cli.main(["service-key", "revoke", "onbekend"]) == 1
    assert "No service client is named 'onbekend'. (unknown_key)" in capsys.readouterr().err
    assert cli.main(["service-key", "revoke", "portaal"]) == 0
    revision = db.revision()
    assert cli.main(["service-key", "revoke", "portaal"]) == 1
    assert "(key_revoked)" in capsys.readouterr().err
    assert db.revision() == revision


def _live(client: TestClient) -> None:
    """Wait until the instance listens to Redis and its poll sleeps for the hour: only announcements bring news."""
    st = client.app.state.authz  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while not st.sync.bus.live(1.0):
        assert time.monotonic() < deadline, "the Redis subscription did not come up"
        time.sleep(0.02)
    time.sleep(0.5)  # past the poll's first quick turn (taken before the subscription was live)
    sync(client)


def test_a_key_created_on_the_command_line_works_at_once(redis_settings: Settings, clock: FrozenClock,
                                                         db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(redis_settings, clock), base_url="http://testserver") as client:
        _live(client)
        key = create_key("portaal", capsys)
        deadline = time.monotonic() + 5  # the announcement, not the (hour-long) poll, brings it
        while status(client, key) != 200:
            assert time.monotonic() < deadline, "the new key is not known yet"
            time.sleep(0.02)


def test_a_policy_import_on_the_command_line_holds_for_checks_at_once(
        redis_settings: Settings, clock: FrozenClock, db: Database, world: World, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    world.org("11111111")
    world.product("polis")
    world.contract("11111111", "polis")
    world.beheerder("beheer@bakkerij.nl", "11111111")
    world.account("anna@bakkerij.nl", "11111111")
    key = create_key("portaal", capsys)
    policy = tmp_path / "policy.yaml"
    assert cli.main(["policy", "export", "-o", str(policy)]) == 0  # no grant in it
    world.grant("anna@bakkerij.nl", "11111111", ["polis"])
    with TestClient(create_app(redis_settings, clock), base_url="http://testserver") as client:
        _live(client)

        def allowed() -> bool:
            r = client.post("/v1/check", json={"user": "anna@bakkerij.nl", "product": "polis"},
                            headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text
            return bool(r.json()["allowed"])

        assert allowed()
        assert cli.main(["policy", "import", str(policy)]) == 0
        deadline = time.monotonic() + 5  # the announcement, not the (hour-long) poll, brings it
        while allowed():
            assert time.monotonic() < deadline, "the imported policy does not hold yet"
            time.sleep(0.02)

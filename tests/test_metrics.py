"""/metrics: revision, lag, catch-ups, reloads, announcements, the bus and the snapshot cache, and that they move."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pytest
from starlette.testclient import TestClient

from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.events import GrantsReplaced, ProductCreated
from authz.store.db import Database
from tests.conftest import sync
from tests.factories import PASSWORD, REDIS_URL, World
from tests.instances import free_port

AFNEMER = "11111111"
USER = "gebruiker@korenschoof.nl"
BEHEERDER = "beheerder@korenschoof.nl"


def metrics(client: TestClient) -> dict[str, float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {m[1]: float(m[2]) for m in re.finditer(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", r.text, re.M)}


def until(client: TestClient, holds: Callable[[dict[str, float]], bool], timeout: float = 5.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        m = metrics(client)
        if holds(m):
            return m
        assert time.monotonic() < deadline, m
        time.sleep(0.02)


def small_world(world: World) -> None:
    world.org(AFNEMER)
    world.product("verzuim")
    world.product("polisadministratie")
    world.contract(AFNEMER, "verzuim", date(2026, 1, 1))
    world.beheerder(BEHEERDER, AFNEMER)
    world.account(USER, AFNEMER)
    world.grant(USER, AFNEMER, ["verzuim"])


@pytest.fixture
def quiet(settings: Settings) -> Settings:
    """Redis with a fresh prefix, and no SQL poll during the test: what moves the figures is the test's doing."""
    return replace(settings, redis_url=REDIS_URL, redis_prefix=f"authz-test-{uuid.uuid4().hex[:8]}:",
                   lease_seconds=3600.0)


def test_metrics_move_with_changes_announcements_and_snapshots(world: World, db: Database, quiet: Settings,
                                                               clock: FrozenClock) -> None:
    small_world(world)
    redis = quiet
    with TestClient(create_app(redis, clock), base_url="http://testserver") as client:
        m = until(client, lambda m: m["authz_bus_live"] == 1 and m["authz_snapshot_writes_total"] == 1)
        start = db.revision()
        assert m["authz_revision_applied"] == m["authz_revision_sql"] == start
        assert m["authz_revision_lag"] == 0 and m["authz_reloads_total"] == 1
        assert m['authz_snapshot_rejected_total{reason="missing"}'] == 1 and m["authz_snapshot_loads_total"] == 0

        world.grant(USER, AFNEMER, [])  # straight into SQL: nobody announces it
        m = metrics(client)
        assert m["authz_revision_sql"] == start + 1 and m["authz_revision_lag"] == 1
        catch_ups = m["authz_catch_ups_total"]
        sync(client)
        m = metrics(client)
        assert m["authz_revision_lag"] == 0 and m["authz_revision_applied"] == start + 1
        assert m["authz_catch_ups_total"] == catch_ups + 1 and m["authz_applied_changes_total"] >= 1

        r = client.post("/v1/session", json={"email": BEHEERDER, "password": PASSWORD})
        assert r.status_code == 200, r.text
        before = metrics(client)
        r = client.put(f"/v1/orgs/{AFNEMER}/users/{USER}/grants", json={"afnemer": AFNEMER, "products": ["verzuim"]})
        assert r.status_code == 200, r.text
        m = until(client, lambda m: m["authz_announcements_received_total"]
                  > before["authz_announcements_received_total"])  # its own announcement comes back
        assert m["authz_announcements_total"] == before["authz_announcements_total"] + 1
        assert m["authz_revision_applied"] == r.json()["revision"] == start + 2
        assert m["authz_announcement_errors_total"] == 0

    with TestClient(create_app(redis, clock), base_url="http://testserver") as warm:
        m = metrics(warm)
        assert m["authz_snapshot_loads_total"] == 1 and m["authz_reloads_total"] == 0
        assert m["authz_revision_applied"] == start + 2 and m["authz_revision_lag"] == 0


def test_metrics_show_a_dead_bus(world: World, settings: Settings, clock: FrozenClock) -> None:
    small_world(world)
    dead = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_prefix="authz-test-dead:")
    with TestClient(create_app(dead, clock), base_url="http://testserver") as client:
        m = until(client, lambda m: m["authz_announcement_errors_total"] >= 1)
        assert m["authz_bus_live"] == 0
        assert m['authz_snapshot_rejected_total{reason="redis_error"}'] == 1 and m["authz_reloads_total"] == 1


def test_a_forged_announcement_is_read_from_sql_not_applied(world: World, db: Database, quiet: Settings,
                                                            clock: FrozenClock) -> None:
    """Events on the bus count only with the service's signature; a forged message makes the instance read SQL."""
    import redis

    from authz.bus import encode

    small_world(world)
    cfg = quiet
    with TestClient(create_app(cfg, clock), base_url="http://testserver") as client:
        m = until(client, lambda m: m["authz_bus_live"] == 1)
        st = client.app.state.authz  # type: ignore[attr-defined]
        world.contract(AFNEMER, "polisadministratie", date(2026, 1, 1))
        revision = sync(client)
        forged = [GrantsReplaced(USER, AFNEMER, ("verzuim", "polisadministratie"))]
        world.product("ander")  # revision + 1 in SQL: a product only
        publisher = redis.Redis.from_url(REDIS_URL)
        try:
            for secret in (b"not the service's secret", None):
                publisher.publish(f"{cfg.redis_prefix}revisions", encode(revision + 1, forged, secret))
        finally:
            publisher.close()
        m = until(client, lambda m: m["authz_announcements_received_total"] >= 2
                  and m["authz_revision_applied"] == revision + 1)
        assert st.decider.check(USER, "polisadministratie").allowed is False  # the forged grant was not applied
        assert "ander" in st.decider.products
        assert st.decider.check(USER, "verzuim").allowed is True
        # Signed with the service's secret, the next revision's events are applied as they come.
        with db.tx("test") as t:
            t.event(ProductCreated("nieuw"))
        catch_ups = metrics(client)["authz_catch_ups_total"]
        good = redis.Redis.from_url(REDIS_URL)
        try:
            good.publish(f"{cfg.redis_prefix}revisions",
                         encode(revision + 2, [ProductCreated("nieuw")], cfg.secret_key.encode()))
        finally:
            good.close()
        m = until(client, lambda m: m["authz_revision_applied"] == revision + 2)
        assert "nieuw" in st.decider.products
        assert m["authz_catch_ups_total"] == catch_ups  # applied from the announcement: no SQL read


def test_a_signed_announcement_with_broken_events_is_read_from_sql_not_applied(world: World, quiet: Settings,
                                                                             clock: FrozenClock) -> None:
    """Signed, yet its events do not decode (a grant's products as one string): the instance reads SQL instead."""
    import redis

    from authz import bus

    small_world(world)
    with TestClient(create_app(quiet, clock), base_url="http://testserver") as client:
        until(client, lambda m: m["authz_bus_live"] == 1)
        st = client.app.state.authz  # type: ignore[attr-defined]
        world.contract(AFNEMER, "polisadministratie", date(2026, 1, 1))
        revision = sync(client)
        world.product("ander")  # revision + 1 in SQL: a product only
        before = metrics(client)
        body = b'[{"t": "grants", "email": "%s", "afnemer": "%s", "products": "polisadministratie"}]' % (
            USER.encode(), AFNEMER.encode())
        secret = quiet.secret_key.encode()
        publisher = redis.Redis.from_url(REDIS_URL)
        try:
            publisher.publish(f"{quiet.redis_prefix}revisions",
                              b"%d|%s|%s" % (revision + 1, bus._signature(secret, revision + 1, body), body))
        finally:
            publisher.close()
        m = until(client, lambda m: m["authz_revision_applied"] == revision + 1)
        assert m["authz_reloads_total"] == before["authz_reloads_total"]
        assert "ander" in st.decider.products  # what SQL holds at revision + 1, which the announcement did not say
        assert st.decider.check(USER, "polisadministratie").allowed is False
        assert st.decider.check(USER, "verzuim").allowed is True


def test_an_announced_revision_that_sql_does_not_have_stalls_nothing(world: World, service_key: str, quiet: Settings,
                                                                      clock: FrozenClock) -> None:
    """A message on the channel with a revision SQL has never seen (a stray publisher, another deployment on the
    same prefix) is a hint, not a fact: after SQL says there is nothing newer, the instance answers again."""
    import redis

    small_world(world)
    with TestClient(create_app(quiet, clock), base_url="http://testserver") as client:
        until(client, lambda m: m["authz_bus_live"] == 1)
        publisher = redis.Redis.from_url(REDIS_URL)
        try:
            publisher.publish(f"{quiet.redis_prefix}revisions", b"999999999")
        finally:
            publisher.close()
        until(client, lambda m: m["authz_announcements_received_total"] >= 1)
        r = client.post("/v1/check", json={"user": USER, "product": "verzuim"},
                        headers={"Authorization": f"Bearer {service_key}"})
        assert r.status_code == 200 and r.json()["allowed"] is True, r.text
        assert client.get("/readyz").status_code == 200

"""The lease of R11 piece by piece (the whole, under faults, is tests/test_r11_faults.py): a renewal brings what the
instance missed and is ordered with every commit by the revision row; a save waits for a lease holder that does
not confirm until its lease runs out, and says so; an instance that cannot renew stops answering and says so."""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from authz.app import create_app
from authz.clock import FrozenClock
from authz.config import Settings
from authz.events import GrantsReplaced
from authz.store import keys, leases
from authz.store.db import Database, Written, tracking
from authz.store.schema import Lease, Revision
from tests.conftest import login
from tests.factories import World

KVK = "11111111"
BEHEERDER, USER = "anna@korenschoof.nl", "joost@korenschoof.nl"


def grant(world: World) -> None:
    world.org(KVK, "Korenschoof")
    world.product("polis")
    world.contract(KVK, "polis")
    world.beheerder(BEHEERDER, KVK)
    world.account(USER, KVK)
    world.grant(USER, KVK, ["polis"])


@pytest.fixture
def granted(world: World) -> None:
    grant(world)


def test_a_renewal_brings_what_the_instance_missed(db: Database, granted: None) -> None:
    head = db.revision()
    r = leases.renew(db, "b", 1, 1.0)
    assert r.head == head and r.complete and [rev for rev, _ in r.changes] == list(range(2, head + 1))
    assert leases.renew(db, "b", head, 1.0).changes == []
    (holder,) = leases.holders(db).holders
    assert holder.instance == "b" and holder.applied == head and 0.9 < holder.left <= 1.0
    assert leases.holders(db, besides="b").holders == ()
    short = leases.renew(db, "c", 0, 1.0, limit=2)
    assert not short.complete  # more than it may read at once: the instance reloads


@pytest.mark.postgres
def test_a_renewal_waits_for_a_commit_under_way_and_brings_it(pg_url: str) -> None:
    """The share lock on the revision row: a renewal that starts while a writer has bumped the revision but not
    committed waits for that commit and reads it, so the writer cannot miss the lease nor the lease the change."""
    db = Database(pg_url)
    try:
        World(db).org(KVK, "Korenschoof")
        before = db.revision()
        bumped = threading.Event()
        release = threading.Event()
        seen: list[leases.Renewal] = []

        def writer() -> None:
            with db.tx("test") as t:
                t.s.execute(update(Revision).where(Revision.id == 1).values(value=Revision.value + 0))
                t.audit("test.noop", "nothing", None, None)
                t.s.flush()
                bumped.set()
                release.wait(5)

        w = threading.Thread(target=writer)
        w.start()
        assert bumped.wait(5)
        renewing = threading.Thread(target=lambda: seen.append(leases.renew(db, "b", before, 1.0)))
        renewing.start()
        time.sleep(0.3)
        assert not seen, "the renewal did not wait for the commit under way"
        release.set()
        w.join(5)
        renewing.join(5)
        assert seen and seen[0].head == before + 1 and seen[0].changes[-1][0] == before + 1
    finally:
        db.dispose()


def test_a_commit_reads_the_holders_and_its_own_events(db: Database, granted: None) -> None:
    """What a write transaction hands to the writer: its revision, its events as the change log holds them, and the
    leases that ran then (so the writer neither reads the change log back nor asks SQL who holds a lease)."""
    leases.renew(db, "b", db.revision(), 1.0)
    with tracking() as w, db.tx("test") as t:
        t.event(GrantsReplaced(USER, KVK, ()))
    (commit,) = w.commits.values()
    assert w.revisions == [commit.revision] and commit.revision == db.revision()
    assert commit.events == db.changes_since(commit.revision - 1)[0][1] == [GrantsReplaced(USER, KVK, ())]
    (holder,) = commit.holders.holders
    assert holder.instance == "b" and holder.applied == commit.revision - 1 and 0.5 < holder.left <= 1.0


@pytest.mark.postgres
def test_a_commit_waits_for_a_renewal_under_way_and_sees_its_lease(pg_url: str) -> None:
    """The other order: a renewal holds the revision row for share, so a writer's bump waits for it, and the
    holders the writer reads after its bump (in the same transaction) include that lease."""
    db = Database(pg_url)
    try:
        World(db).org(KVK, "Korenschoof")
        locked, release = threading.Event(), threading.Event()
        seen: list[Written] = []

        def renewal() -> None:
            with db.engine.begin() as c:
                head = leases.lock_head(c, 5.0)
                locked.set()
                release.wait(5)
                now = time.time()
                c.execute(insert(Lease).values(instance="b", until=now + 5, applied=head, renewed_at=now))

        def writer() -> None:
            with tracking() as w, db.tx("test") as t:
                t.audit("test.noop", "nothing", None, None)
            seen.append(w)

        r = threading.Thread(target=renewal)
        r.start()
        assert locked.wait(5)
        wr = threading.Thread(target=writer)
        wr.start()
        time.sleep(0.3)
        assert not seen, "the commit did not wait for the renewal under way"
        release.set()
        r.join(5)
        wr.join(5)
        (commit,) = seen[0].commits.values()
        assert [h.instance for h in commit.holders.holders] == ["b"]
    finally:
        db.dispose()


def test_a_save_waits_for_a_holder_that_does_not_confirm_until_its_lease_runs_out(
        settings: Settings, clock: FrozenClock, db: Database, granted: None) -> None:
    with TestClient(create_app(settings, clock), base_url="http://testserver") as client:
        login(client, BEHEERDER)
        put = {"afnemer": KVK, "products": []}
        r = client.put(f"/v1/orgs/{KVK}/users/{USER}/grants", json=put)
        assert r.status_code == 200 and r.headers["authz-confirmed"] == "true"
        assert int(r.headers["authz-revision"]) == r.json()["revision"]
        # An instance that took a lease and then went silent (paused, cut off): the next save waits it out.
        leases.renew(db, "silent", db.revision(), settings.lease_seconds)
        started = time.monotonic()
        r = client.put(f"/v1/orgs/{KVK}/users/{USER}/grants", json={**put, "products": ["polis"]})
        waited = time.monotonic() - started
        assert r.status_code == 200 and r.headers["authz-confirmed"] == "false"
        assert 0.8 * settings.lease_seconds < waited < settings.lease_seconds + 0.5
        # One that says in SQL it has applied the revision is not waited for.
        leases.renew(db, "silent", db.revision() + 1, settings.lease_seconds)
        started = time.monotonic()
        r = client.put(f"/v1/orgs/{KVK}/users/{USER}/grants", json=put)
        assert r.headers["authz-confirmed"] == "true" and time.monotonic() - started < 0.5
        assert "authz_saves_unconfirmed_total 1" in client.get("/metrics").text.splitlines()
        ready = client.get("/readyz").json()
        assert ready["saves"]["unconfirmed"] == 1 and ready["lease"]["held"] is True


def _move(path: Path, to: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(path) + suffix)
        if source.exists():
            shutil.move(source, Path(str(to) + suffix))


def test_an_instance_that_cannot_renew_answers_503_and_says_so(
        sqlite_url: str, outbox_dir: Path, clock: FrozenClock, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """SQL taken away (the SQLite file moved aside) and given back."""
    db = Database(sqlite_url, clock)
    grant(World(db))
    with db.tx(actor="test") as t:
        service_key = keys.create(t, "lease-test")
    db.dispose()
    cfg = Settings(database_url=sqlite_url, secret_key="test-secret", outbox_dir=outbox_dir, lease_seconds=0.5,
                   mail_interval=0, mfa_required="none")
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with TestClient(create_app(cfg, clock), base_url="http://testserver") as client:
        client.headers["Authorization"] = f"Bearer {service_key}"
        check = {"user": USER, "product": "polis"}
        assert client.post("/v1/check", json=check).json()["allowed"] is True
        caplog.set_level(logging.INFO, logger="authz.sync")
        _move(path, tmp_path / "away.db")  # SQL gone: every renewal fails
        try:
            time.sleep(0.8)
            r = client.post("/v1/check", json=check)
            assert r.status_code == 503 and r.json()["error"]["code"] == "stale"
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["lease"]["held"] is False
            metrics = client.get("/metrics").text.splitlines()
            assert "authz_lease_held 0" in metrics
            assert any(line.startswith("authz_lease_lapses_total ") and line != "authz_lease_lapses_total 0"
                       for line in metrics)
            assert "lease ran out" in caplog.text
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            _move(tmp_path / "away.db", path)
        deadline = time.monotonic() + 5
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.post("/v1/check", json=check).json()["allowed"] is True
        assert "taken again" in caplog.text


@pytest.mark.postgres
def test_an_instance_paused_in_its_renewal_holds_no_save_up_for_long(pg_url: str) -> None:
    """A renewal that took the share lock and then fell silent (its process paused, its network gone) is ended by
    PostgreSQL after a quarter of a lease, so the saves waiting for the revision row go on."""
    db = Database(pg_url)
    try:
        World(db).org(KVK, "Korenschoof")
        silent = db.engine.connect()
        silent.begin()
        leases.lock_head(silent, 1.0)  # and then nothing more: paused in the middle of its renewal
        save = threading.Thread(target=lambda: World(db).product("polis"))  # its bump waits for the lock
        started = time.monotonic()
        save.start()
        save.join(2.0)
        waited = time.monotonic() - started
        held_up = save.is_alive()
        try:
            with pytest.raises(DBAPIError):  # the server ended that session
                silent.execute(select(Revision.value))
        finally:
            silent.close()  # (without the timeout: only now does the save go on)
            save.join(5)
        assert not held_up and waited < 0.8, f"a save waited {waited:.2f} s behind a silent renewal"
    finally:
        db.dispose()


def test_a_renewal_begun_before_the_lease_was_given_up_does_not_take_it_again(
        settings: Settings, clock: FrozenClock, granted: None) -> None:
    """An instance that could not apply a revision it wrote gives its lease up; a renewal already under way, which
    may have read the revision row before that commit, must not make it vouch again — the next one may."""
    with TestClient(create_app(settings, clock), base_url="http://testserver") as client:
        sync: Any = client.app.state.authz.sync  # type: ignore[attr-defined]

        async def race() -> tuple[bool, bool]:
            under_way = sync.renew()
            await asyncio.sleep(0)  # it begins: it reads the revision in a thread
            sync.drop_lease("a test: a revision written here could not be applied")
            await under_way
            after_old = sync.current()
            await sync.renew()
            return after_old, sync.current()

        after_old, after_new = client.portal.call(race)  # type: ignore[union-attr]
        assert after_old is False and after_new is True

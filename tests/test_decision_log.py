"""The decision log (SPEC §5) on SQLite and PostgreSQL: every decision of /v1/check, /v1/check/batch and
/v1/explain recorded with its trace, the operator's search (filters, pages, who may), retention, the journal's
recovery (nothing twice, a torn end), and the bounds when SQL is down. The crash of a real process:
tests/test_decision_log_crash.py."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from authz.clock import FrozenClock
from authz.decider import Decision
from authz.decisionlog import DecisionLog, journals
from authz.domain.access import Reason
from authz.store import decisionlog as stored
from authz.store.db import Database
from tests.conftest import NOW, login, sync
from tests.factories import World

ORG, OTHER = "11111111", "22222222"
ANNA = "anna@bakkerij.nl"
OPERATOR = "operator@gegevensdiensten.nl"
BEHEERDER = "baas@bakkerij.nl"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def build(world: World) -> None:
    world.org(ORG, "Bakkerij De Korenschoof B.V.")
    world.org(OTHER, "Ander Bedrijf")
    world.product("polisadministratie")
    world.product("verzuim")
    world.contract(ORG, "polisadministratie")
    world.account(ANNA, ORG)
    world.grant(ANNA, ORG, ["polisadministratie"])
    world.beheerder(BEHEERDER, ORG)
    world.operator()


def flushed(client: TestClient) -> None:
    st: Any = client.app.state.authz  # type: ignore[attr-defined]
    assert st.decisions.flush()


def decisions(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/v1/operator/decisions", params=params)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def test_every_decision_of_check_batch_and_explain_is_logged(api: TestClient, world: World) -> None:
    build(world)
    sync(api)
    assert api.post("/v1/check", json={"user": ANNA, "product": "polisadministratie", "afnemer": ORG},
                    headers={"traceparent": TRACE}).json()["allowed"] is True
    api.post("/v1/check", json={"user": ANNA, "product": "verzuim"})
    r = api.post("/v1/check/batch", json={"checks": [{"user": ANNA, "product": "polisadministratie"},
                                                     {"user": "niemand@bakkerij.nl", "product": "verzuim"}]},
                 headers={"traceparent": TRACE})
    assert r.status_code == 200
    assert api.post("/v1/explain", json={"user": ANNA, "product": "polisadministratie", "afnemer": OTHER}
                    ).status_code == 200
    flushed(api)
    login(api, OPERATOR)
    found = decisions(api)
    assert found["cursor"] is None
    rows = found["decisions"]
    assert [(d["user"], d["product"], d["afnemer"], d["decision"], d["reason"]) for d in rows] == [
        (ANNA, "polisadministratie", OTHER, False, "no_grant"),  # explain, the newest
        ("niemand@bakkerij.nl", "verzuim", None, False, "unknown_user"),  # the batch, each check of it
        (ANNA, "polisadministratie", None, True, "granted"),
        (ANNA, "verzuim", None, False, "no_grant"),
        (ANNA, "polisadministratie", ORG, True, "granted"),
    ]
    revision = sync(api)
    for d in rows:
        assert d["at"] == "2026-06-15T10:00:00Z"  # the test's clock
        assert d["client"].startswith("test-client-")
        assert d["revision"] == revision
        assert d["processing_activity_id"] is None and d["algorithm_id"] is None  # the AuthZEN edge's
    traced = [(d["trace_id"], d["span_id"]) for d in rows]
    assert traced == [(None, None), ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
                      ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"), (None, None),
                      ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")]


def test_a_malformed_traceparent_is_ignored_counted_and_said_once(api: TestClient, world: World,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    build(world)
    sync(api)
    caplog.set_level(logging.WARNING, "authz.trace")
    for bad in ("garbage", TRACE.upper(), "00-" + "0" * 32 + "-00f067aa0ba902b7-01", TRACE + "-extra"):
        r = api.post("/v1/check", json={"user": ANNA, "product": "polisadministratie"},
                     headers={"traceparent": bad})
        assert r.status_code == 200 and r.json()["allowed"] is True
    flushed(api)
    warned = [r for r in caplog.records if "malformed traceparent" in r.getMessage()]
    assert len(warned) == 1 and "'garbage'" in warned[0].getMessage()  # rate-limited: once a minute
    metrics = api.get("/metrics").text
    assert "authz_traceparent_malformed_total 4" in metrics
    assert "authz_decision_log_shipped_total 4" in metrics
    assert api.get("/readyz").json()["decision_log"]["traceparent_malformed"] == 4
    login(api, OPERATOR)
    assert [d["trace_id"] for d in decisions(api)["decisions"]] == [None] * 4


def test_the_operator_filters_and_pages_newest_first(api: TestClient, world: World, clock: FrozenClock) -> None:
    build(world)
    world.account("bert@bakkerij.nl", ORG)
    sync(api)
    asked = [(ANNA, "polisadministratie", ORG), ("bert@bakkerij.nl", "verzuim", None),
             (ANNA, "verzuim", OTHER), (ANNA, "polisadministratie", None), ("bert@bakkerij.nl", "verzuim", ORG)]
    for user, product, afnemer in asked:
        body = {"user": user, "product": product, **({"afnemer": afnemer} if afnemer else {})}
        assert api.post("/v1/check", json=body).status_code == 200
        clock.advance(hours=6)  # 10:00, 16:00, 22:00, 04:00 and 10:00 (UTC) from 15 June
    flushed(api)
    login(api, OPERATOR)

    def who(**params: Any) -> list[tuple[str, str, str | None]]:
        return [(d["user"], d["product"], d["afnemer"]) for d in decisions(api, **params)["decisions"]]

    newest_first = list(reversed(asked))
    assert who() == newest_first
    assert who(user=ANNA) == [a for a in newest_first if a[0] == ANNA]
    assert who(user="ANNA@Bakkerij.nl") == who(user=ANNA)  # the canonical e-mail
    assert who(product="verzuim") == [a for a in newest_first if a[1] == "verzuim"]
    assert who(afnemer=ORG) == [a for a in newest_first if a[2] == ORG]
    assert who(user=ANNA, product="polisadministratie") == [asked[3], asked[0]]
    assert who(since="2026-06-15T16:00:00Z", until="2026-06-16T04:00:00Z") == [asked[2], asked[1]]
    # Days are Amsterdam days: 15 June runs to 22:00 UTC, so the 22:00 UTC decision is of the 16th.
    assert who(until="2026-06-15") == [asked[1], asked[0]]
    assert who(since="2026-06-16") == [asked[4], asked[3], asked[2]]
    assert who(since="2026-06-16T12:00:00+02:00") == [asked[4]]

    pages, cursor = [], None
    while True:
        page = decisions(api, limit=2, **({"cursor": cursor} if cursor else {}))
        pages.append([(d["user"], d["product"], d["afnemer"]) for d in page["decisions"]])
        cursor = page["cursor"]
        if cursor is None:
            break
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]


def test_decisions_of_one_instant_page_without_loss_or_repeat(api: TestClient, world: World) -> None:
    build(world)
    sync(api)
    checks = [{"user": f"u{i:02}@bakkerij.nl", "product": "verzuim"} for i in range(25)]
    assert api.post("/v1/check/batch", json={"checks": checks}).status_code == 200  # 25 decisions, one instant
    flushed(api)
    login(api, OPERATOR)
    seen, cursor = [], None
    while True:
        page = decisions(api, limit=7, **({"cursor": cursor} if cursor else {}))
        seen += [d["user"] for d in page["decisions"]]
        if (cursor := page["cursor"]) is None:
            break
    assert seen == [c["user"] for c in reversed(checks)]


@pytest.mark.parametrize(("params", "code"), [
    ({"user": "geen-adres"}, "invalid_email"),
    ({"product": "Polis Administratie"}, "invalid_product_code"),
    ({"afnemer": "123"}, "invalid_kvk"),
    ({"since": "gisteren"}, "invalid_date"),
    ({"until": "2026-06-15T10:00:00"}, "invalid_date"),  # an instant needs its time zone
    ({"since": "2026-02-30"}, "invalid_date"),
    ({"since": "2026-06-16", "until": "2026-06-15"}, "invalid_period"),
    ({"cursor": "zzz"}, "invalid_cursor"),
    ({"cursor": "99999999999999999999.1"}, "invalid_cursor"),
    ({"limit": "0"}, "invalid_limit"),
    ({"users": ANNA}, "unknown_parameter"),
])
def test_bad_filters_are_refused_in_the_error_shape(client: TestClient, world: World, params: dict[str, str],
                                                     code: str) -> None:
    build(world)
    login(client, OPERATOR)
    r = client.get("/v1/operator/decisions", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code


def test_only_the_operator_reads_the_decision_log(client: TestClient, world: World, service_key: str) -> None:
    build(world)
    r = client.get("/v1/operator/decisions")
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_logged_in"
    r = client.get("/v1/operator/decisions", headers={"Authorization": f"Bearer {service_key}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_logged_in"  # a service client is not one
    for who in (BEHEERDER, ANNA):
        login(client, who)
        r = client.get("/v1/operator/decisions")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    login(client, OPERATOR)
    assert client.get("/v1/operator/decisions").status_code == 200


def _decision(allowed: bool = False) -> Decision:
    return Decision(allowed, Reason.GRANTED if allowed else Reason.NO_GRANT, (), 7)


def _users(db: Database) -> set[str]:
    return {f.user for f in stored.search(db, limit=10_000)}


def test_entries_older_than_the_retention_are_removed(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    first = DecisionLog(db, clock, tmp_path, days=90)
    first.start()
    for days_ago in (120, 92, 89, 0):
        clock.at = NOW - timedelta(days=days_ago)
        first.record("svc", f"d{days_ago}@bakkerij.nl", "verzuim", None, _decision())
    clock.at = NOW
    assert first.flush()
    first.stop()
    assert _users(db) == {"d120@bakkerij.nl", "d92@bakkerij.nl", "d89@bakkerij.nl", "d0@bakkerij.nl"}
    later = DecisionLog(db, clock, tmp_path, days=90)  # its writer's first round keeps the retention
    later.start()
    assert later.flush()
    later.stop()
    assert _users(db) == {"d89@bakkerij.nl", "d0@bakkerij.nl"}
    if not db.is_sqlite:  # whole day partitions dropped; today's and the next two made ahead
        names = stored.partitions(db)
        assert stored.partition_name((NOW - timedelta(days=92)).date()) not in names
        assert stored.partition_name((NOW - timedelta(days=89)).date()) in names
        for ahead in range(3):
            assert stored.partition_name((NOW + timedelta(days=ahead)).date()) in names
    assert journals(tmp_path) == []  # a clean stop leaves no journal


def _row(user: str, at: datetime = NOW) -> list[Any]:
    return [at.timestamp(), "svc", user, "verzuim", None, False, "no_grant", 3, None, None, None, None]


def test_a_journal_left_by_a_crash_ships_what_sql_lacks_once(db: Database, clock: FrozenClock, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    journal = "0123456789abcdef0123456789abcdef"
    batch1, batch2 = [_row("a@bakkerij.nl"), _row("b@bakkerij.nl")], [_row("c@bakkerij.nl")]
    # Batch 1 reached SQL (with its mark) just before the crash; batch 2 did not; the last line was cut short.
    stored.ensure_partitions(db, {NOW.date()})
    stored.ship(db, journal, [stored.Batch(1, 2, orjson.dumps(batch1), NOW.timestamp(), NOW.timestamp())])
    path = tmp_path / f"decisions-{journal}.journal"
    path.write_bytes(orjson.dumps([1, batch1]) + b"\n" + orjson.dumps([2, batch2]) + b"\n" + b'[3, [[1781')
    caplog.set_level(logging.WARNING, "authz.decisionlog")
    log = DecisionLog(db, clock, tmp_path, days=90)
    log.start()
    assert log.flush()
    log.stop()
    assert sorted(f.user for f in stored.search(db)) == ["a@bakkerij.nl", "b@bakkerij.nl", "c@bakkerij.nl"]
    assert not path.exists() and stored.shipped(db, journal) == 0
    said = [r.getMessage() for r in caplog.records if "recovered" in r.getMessage()]
    assert len(said) == 1
    assert "recovered 3 entries" in said[0] and "shipped 1 now, 2 were in SQL already, 1 torn" in said[0]
    assert log.figures()["recovered"] == 1


def test_a_journal_another_instance_holds_is_left_alone(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    living = DecisionLog(db, clock, tmp_path, days=90, ship_every=3600)
    living.start()
    living.record("svc", "lopend@bakkerij.nl", "verzuim", None, _decision())
    other = DecisionLog(db, clock, tmp_path, days=90)
    other.start()
    assert other.flush()
    other.stop()
    assert living.path.exists() and _users(db) == set()  # locked by a living process: not recovered
    living.stop()  # ships on the way out
    assert _users(db) == {"lopend@bakkerij.nl"} and journals(tmp_path) == []


def test_a_full_buffer_drops_and_counts_instead_of_growing(db: Database, clock: FrozenClock,
                                                            tmp_path: Path) -> None:
    log = DecisionLog(db, clock, tmp_path, days=90, buffer=10)  # no writer started: nothing empties it
    for i in range(15):
        log.record("svc", f"u{i}@bakkerij.nl", "verzuim", None, _decision())
    assert log.figures()["buffered"] == 10 and log.figures()["dropped"] == 5
    assert log.samples()[4][:3] == ("authz_decision_log_dropped_total", "counter", 5)


def test_with_sql_down_the_journal_keeps_a_bounded_backlog(clock: FrozenClock, tmp_path: Path,
                                                           sqlite_url: str) -> None:
    down = Database("postgresql://postgres@127.0.0.1:1/nothing", clock)
    log = DecisionLog(down, clock, tmp_path, days=90, backlog=1000)
    log.start()
    for i in range(1500):
        log.record("svc", f"u{i}@bakkerij.nl", "verzuim", None, _decision())
    assert log.flush()
    f = log.figures()
    assert f["journaled"] == 1000 and f["backlog"] == 1000 and f["backlog_dropped"] == 500
    assert f["ship_errors"] >= 1 and f["error"] is not None
    log.stop()  # SQL still down: the journal stays for the next start
    (kept,) = journals(tmp_path)
    up = Database(sqlite_url, clock)  # the next start, with SQL back
    after = DecisionLog(up, clock, tmp_path, days=90)
    after.start()
    assert after.flush()
    after.stop()
    assert stored.count(up) == 1000 and not kept.exists()
    down.dispose()
    up.dispose()


def test_the_log_can_be_turned_off_for_a_measurement(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    log = DecisionLog(db, clock, tmp_path / "off", days=90, enabled=False)
    log.start()
    log.record("svc", "u@bakkerij.nl", "verzuim", None, _decision())
    assert log.figures()["buffered"] == 0 and not (tmp_path / "off").exists()
    log.stop()


def test_every_reason_of_the_decider_has_a_code() -> None:
    assert {r.value for r in Reason} <= set(stored.REASONS)
    assert stored.reason_code("unknown_afnemer") > 0 and stored.reason_code("nieuw") == 0


def test_decisions_are_stored_at_the_instant_in_utc(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    clock.at = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)  # just before the clocks change in Amsterdam
    log = DecisionLog(db, clock, tmp_path, days=90)
    log.start()
    log.record("svc", "u@bakkerij.nl", "verzuim", ORG, _decision(True))
    assert log.flush()
    log.stop()
    (found,) = stored.search(db)
    assert found.at == clock.at and found.afnemer == ORG and found.allowed and found.reason == "granted"


def test_the_decision_log_settings_are_read_and_bad_ones_stop_the_start() -> None:
    from authz.config import Settings, SettingsError

    default = Settings.from_env({"AUTHZ_SECRET_KEY": "k"})
    assert (default.decision_log, default.decision_log_days, default.decision_log_dir) == (True, 90,
                                                                                            Path("./decision-log"))
    got = Settings.from_env({"AUTHZ_SECRET_KEY": "k", "AUTHZ_DECISION_LOG_DAYS": "30", "AUTHZ_DECISION_LOG": "0",
                             "AUTHZ_DECISION_LOG_DIR": "/var/lib/authz/decisions",
                             "AUTHZ_DECISION_LOG_BACKLOG": "20000"})
    assert (got.decision_log, got.decision_log_days, got.decision_log_backlog) == (False, 30, 20_000)
    assert got.decision_log_dir == Path("/var/lib/authz/decisions")
    for name, value in (("AUTHZ_DECISION_LOG_DAYS", "0"), ("AUTHZ_DECISION_LOG_DAYS", "negentig"),
                        ("AUTHZ_DECISION_LOG_DAYS", "٩٠"), ("AUTHZ_DECISION_LOG", "misschien"),
                        ("AUTHZ_DECISION_LOG_BACKLOG", "10")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({"AUTHZ_SECRET_KEY": "k", name: value})


def _block_shipping(db: Database) -> Any:
    """Another connection holding what a shipment needs (SQLite: the write lock; PostgreSQL: the journals' marks):
    the shipper waits on it as on a database that does not answer. Returns the connection; close it to let go."""
    c = db.engine.connect()
    c.begin()  # SQLite: BEGIN IMMEDIATE (authz.store.db), the write lock
    if not db.is_sqlite:
        c.exec_driver_sql("LOCK TABLE decision_journals IN ACCESS EXCLUSIVE MODE")
    return c


def test_the_journal_goes_on_while_the_shipper_hangs_in_sql(db: Database, clock: FrozenClock,
                                                            tmp_path: Path) -> None:
    log = DecisionLog(db, clock, tmp_path, days=90, journal_every=0.02, ship_every=0.05)
    log.start()
    log.record("svc", "eerst@bakkerij.nl", "verzuim", None, _decision())
    assert log.flush()
    blocker = _block_shipping(db)
    try:
        log.record("svc", "tweede@bakkerij.nl", "verzuim", None, _decision())
        deadline = time.monotonic() + 5
        while log.figures()["journaled"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the shipper has had its round: it waits in SQL
        for i in range(50):  # recorded, journaled and fsynced while the shipper is stuck
            log.record("svc", f"u{i}@bakkerij.nl", "verzuim", None, _decision())
        deadline = time.monotonic() + 5
        while log.figures()["journaled"] < 52 and time.monotonic() < deadline:
            time.sleep(0.02)
        f = log.figures()
        assert f["journaled"] == 52 and f["shipped"] == 1 and f["backlog"] == 51
        lines = [orjson.loads(line) for line in log.path.read_bytes().splitlines()]
        assert sum(len(rows) for _, rows in lines) >= 51  # on disk: what a crash now would find
    finally:
        blocker.rollback()
        blocker.close()
    assert log.flush(30)
    log.stop()
    assert stored.count(db) == 52 and journals(tmp_path) == []


class _LostAnswer(DecisionLog):
    """A shipper whose first shipment commits and whose answer is lost (the connection breaks after COMMIT)."""

    lost = 0

    def _ship(self, journal: str, batches: list[stored.Batch]) -> int:
        written = super()._ship(journal, batches)
        if not self.lost:
            self.lost += 1
            raise ConnectionError("server closed the connection unexpectedly")
        return written


def test_a_shipment_whose_commit_answer_was_lost_is_not_written_twice(db: Database, clock: FrozenClock,
                                                                      tmp_path: Path) -> None:
    log = _LostAnswer(db, clock, tmp_path, days=90, ship_every=3600)
    log.start()
    for i in range(3):
        log.record("svc", f"u{i}@bakkerij.nl", "verzuim", None, _decision())
    assert log.flush()
    assert log.figures()["ship_errors"] == 1 and stored.count(db) == 3  # in SQL, though the shipper was not told
    log.record("svc", "later@bakkerij.nl", "verzuim", None, _decision())
    assert log.flush()
    log.stop()
    assert stored.count(db) == 4 and log.figures()["shipped"] == 4 and log.lost == 1


def test_a_batch_shipped_again_is_skipped_by_its_number(db: Database) -> None:
    journal = "fedcba9876543210fedcba9876543210"
    stored.ensure_partitions(db, {NOW.date()})
    one = stored.Batch(1, 1, orjson.dumps([_row("a@bakkerij.nl")]), NOW.timestamp(), NOW.timestamp())
    two = stored.Batch(2, 1, orjson.dumps([_row("b@bakkerij.nl")]), NOW.timestamp(), NOW.timestamp())
    assert stored.ship(db, journal, [one]) == 1
    assert stored.ship(db, journal, [one, two]) == 1  # the first again: skipped; the second written
    assert stored.ship(db, journal, [one, two]) == 0
    assert sorted(_users(db)) == ["a@bakkerij.nl", "b@bakkerij.nl"] and stored.shipped(db, journal) == 2


def test_the_instant_asked_for_is_kept_beside_the_instant_answered(db: Database, clock: FrozenClock,
                                                                   tmp_path: Path) -> None:
    asked = datetime(2025, 1, 31, 23, 0, 0, 250000, tzinfo=UTC)
    log = DecisionLog(db, clock, tmp_path, days=90)
    log.start()
    log.record("svc", "toen@bakkerij.nl", "verzuim", ORG, _decision(), as_of=asked.timestamp())
    log.record("svc", "nu@bakkerij.nl", "verzuim", ORG, _decision())
    assert log.flush()
    log.stop()
    now, then = sorted(stored.search(db), key=lambda f: f.user)
    assert (then.user, then.as_of, then.at) == ("toen@bakkerij.nl", asked, clock.at)
    assert (now.user, now.as_of) == ("nu@bakkerij.nl", None)


def test_a_journal_line_of_the_version_before_as_of_ships(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    journal = "00112233445566778899aabbccddeeff"
    (tmp_path / f"decisions-{journal}.journal").write_bytes(orjson.dumps([1, [_row("oud@bakkerij.nl")]]) + b"\n")
    log = DecisionLog(db, clock, tmp_path, days=90)
    log.start()
    assert log.flush()
    log.stop()
    (found,) = stored.search(db)
    assert found.user == "oud@bakkerij.nl" and found.as_of is None


class _Slow(DecisionLog):
    """A shipper whose every shipment takes a while (a database far away), or fails while ``down`` is set."""

    delay = 0.08
    down = False

    def _ship(self, journal: str, batches: list[stored.Batch]) -> int:
        if self.down:
            raise ConnectionError("the database does not answer")
        time.sleep(self.delay)
        return super()._ship(journal, batches)


def _steady(log: DecisionLog, seconds: float, sizes: list[int]) -> int:
    """Record decisions steadily for ``seconds``, noting the journal's size as it goes; returns how many."""
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(20):
            log.record("svc", f"u{n}@bakkerij.nl", "verzuim", None, _decision())
            n += 1
        sizes.append(log.path.stat().st_size)
        time.sleep(0.01)
    return n


def test_under_steady_load_with_slow_shipments_the_journal_keeps_to_what_sql_lacks(
        db: Database, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import authz.decisionlog

    monkeypatch.setattr(authz.decisionlog, "COMPACT_BYTES", 30_000)
    log = _Slow(db, clock, tmp_path, days=90, journal_every=0.02, ship_every=0.05)
    log.start()
    sizes: list[int] = []
    n = _steady(log, 2.5, sizes)
    # A journal batch is written during every shipment, so SQL never holds all of the file when it is written to:
    # it is written anew instead, and stays near its bound (it grew past 200 KB without that).
    assert max(sizes[len(sizes) // 2:]) < 100_000, sizes
    assert log.flush(30)
    log.stop()
    assert stored.count(db) == n and journals(tmp_path) == []  # every entry once


def test_after_an_outage_the_shipper_ships_from_memory_again(db: Database, clock: FrozenClock, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import authz.decisionlog

    monkeypatch.setattr(authz.decisionlog, "COMPACT_BYTES", 30_000)
    log = _Slow(db, clock, tmp_path, days=90, journal_every=0.02, ship_every=0.05, buffer=1000)
    log.start()
    log.down = True
    sizes: list[int] = []
    n = _steady(log, 1.0, sizes)  # more than memory keeps (1000 rows): the oldest only in the file
    time.sleep(0.2)  # the journal's last rounds
    assert log.figures()["backlog"] == n and log.figures()["ship_errors"] >= 1
    log.down = False
    read: list[int] = []
    real = authz.decisionlog._Reader.__iter__

    def counted(self: Any) -> Any:
        read.append(1)
        return real(self)

    monkeypatch.setattr(authz.decisionlog._Reader, "__iter__", counted)
    n += _steady(log, 2.0, sizes)
    assert read, "the oldest batches come back from the file"
    caught_up = len(read)
    n += _steady(log, 1.0, sizes)
    assert len(read) == caught_up, "once caught up, it ships from memory, not the file"
    assert max(sizes[-10:]) < 100_000, sizes[-10:]
    assert log.flush(30)
    log.stop()
    assert stored.count(db) == n and journals(tmp_path) == []


def test_what_a_crash_left_of_a_journal_written_anew_is_removed_and_its_journal_shipped(
        db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    journal = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
    (tmp_path / f"decisions-{journal}.journal").write_bytes(orjson.dumps([1, [_row("heel@bakkerij.nl")]]) + b"\n")
    half = tmp_path / f"decisions-{journal}.compacting"
    half.write_bytes(b'[1, [[17')  # the crash came before the rename: the journal above is whole
    log = DecisionLog(db, clock, tmp_path, days=90)
    log.start()
    assert log.flush()
    log.stop()
    assert not half.exists() and [f.user for f in stored.search(db)] == ["heel@bakkerij.nl"]

"""Change events and their one codec: every kind round-trips, anything else is refused, the change log's stored form
is the one it always had, and a broken event on either carrier (the change log, a signed announcement) leads to a
read of SQL, never to a change applied from it."""

from __future__ import annotations

import ast
import asyncio
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from authz import bus
from authz import events as events_module
from authz.bus import RedisBus
from authz.clock import FrozenClock
from authz.decider import Decider
from authz.events import (
    KINDS,
    AccountChanged,
    ContractEnded,
    ContractPut,
    Event,
    GrantsReplaced,
    KeyIssued,
    KeyRevoked,
    MalformedEvent,
    MandateEnded,
    MandatePut,
    OrganisationNamed,
    ProductCreated,
    Reload,
    decode,
    decode_all,
    encode,
)
from authz.store.db import Database
from authz.store.schema import Change, Revision
from authz.store.snapshot import read_snapshot
from tests.factories import REDIS_URL, World
from tests.test_decider_equivalence import EVERY_CHANGE, Spec, _apply_change, view_of, write

events = st.one_of(*(st.builds(kind) for kind in KINDS))

# What the change log has held since its first revision, one of each form: read as these events, written so again.
STORED: list[tuple[dict[str, Any], Event]] = [
    ({"t": "account", "email": "a@x.nl", "org": "10000001", "status": "active"},
     AccountChanged("a@x.nl", "10000001", "active")),
    ({"t": "account", "email": "op@x.nl", "org": None, "status": "approved"},
     AccountChanged("op@x.nl", None, "approved")),
    ({"t": "grants", "email": "a@x.nl", "afnemer": "10000002", "products": ["pa", "pb"]},
     GrantsReplaced("a@x.nl", "10000002", ("pa", "pb"))),
    ({"t": "contract", "afnemer": "10000002", "product": "pa", "valid_from": "2026-01-01", "valid_until": None},
     ContractPut("10000002", "pa", date(2026, 1, 1), None)),
    ({"t": "contract", "afnemer": "10000002", "product": "pa", "valid_from": None}, ContractEnded("10000002", "pa")),
    ({"t": "mandate", "afnemer": "10000002", "intermediair": "10000001", "valid_from": "2026-01-01",
      "valid_until": "2026-12-31", "products": ["pa"]},
     MandatePut("10000002", "10000001", date(2026, 1, 1), date(2026, 12, 31), ("pa",))),
    ({"t": "mandate", "afnemer": "10000002", "intermediair": "10000001", "valid_from": "2026-01-01",
      "valid_until": None, "products": None},
     MandatePut("10000002", "10000001", date(2026, 1, 1), None, None)),
    ({"t": "mandate", "afnemer": "10000002", "intermediair": "10000001", "valid_from": None},
     MandateEnded("10000002", "10000001")),
    ({"t": "product", "code": "pa"}, ProductCreated("pa")),
    ({"t": "org", "kvk": "10000001", "name": "Bakkerij"}, OrganisationNamed("10000001", "Bakkerij")),
    ({"t": "key", "hash": "ab" * 32, "name": "portaal", "active": True}, KeyIssued("ab" * 32, "portaal")),
    ({"t": "key", "hash": "ab" * 32, "name": "portaal", "active": False}, KeyRevoked("ab" * 32, "portaal")),
    ({"t": "reload"}, Reload()),
]


# -- the codec -------------------------------------------------------------------------------------------------------

@given(event=events)
def test_every_kind_of_event_round_trips_through_json(event: Event) -> None:
    assert decode(orjson.loads(orjson.dumps(encode(event)))) == event


@pytest.mark.parametrize(("stored", "event"), STORED, ids=[type(e).__name__ for _, e in STORED])
def test_the_stored_form_of_the_change_log_is_kept(stored: dict[str, Any], event: Event) -> None:
    assert decode(stored) == event
    assert encode(event) == stored


def test_the_stored_forms_cover_every_kind() -> None:
    assert {type(e) for _, e in STORED} == set(KINDS)


@pytest.mark.parametrize("value", [
    {"t": "account_removed", "email": "a@x.nl"},
    {"t": "nonsense"},
    {"t": None},
    {"t": ["grants"]},
    {"email": "a@x.nl"},
    ["reload"],
    "reload",
    None,
])
def test_an_unknown_kind_is_refused(value: Any) -> None:
    with pytest.raises(MalformedEvent):
        decode(value)


@pytest.mark.parametrize("value", [
    {"t": "product", "code": 7},
    {"t": "product"},
    {"t": "product", "code": "pa", "name": "extra"},
    {"t": "account", "email": "a@x.nl", "org": ["10000001"], "status": "active"},
    {"t": "grants", "email": "a@x.nl", "afnemer": "10000002", "products": "pa"},
    {"t": "grants", "email": "a@x.nl", "afnemer": "10000002", "products": ["pa", 1]},
    {"t": "grants", "email": "a@x.nl", "afnemer": "10000002", "products": None},
    {"t": "contract", "afnemer": "1", "product": "pa", "valid_from": "2026-13-01", "valid_until": None},
    {"t": "contract", "afnemer": "1", "product": "pa", "valid_from": "20260101", "valid_until": None},
    {"t": "contract", "afnemer": "1", "product": "pa", "valid_from": "2026-01-01"},
    {"t": "contract", "afnemer": "1", "product": "pa", "valid_from": None, "valid_until": None},
    {"t": "mandate", "afnemer": "1", "intermediair": "2", "valid_from": "2026-01-01", "valid_until": 20261231,
     "products": None},
    {"t": "key", "hash": "ab", "name": "portaal"},
    {"t": "key", "hash": "ab", "name": "portaal", "active": 1},
    {"t": "key", "hash": "ab", "name": "portaal", "active": "false"},
    {"t": "reload", "why": "bulk"},
])
def test_a_malformed_field_is_refused(value: Any) -> None:
    with pytest.raises(MalformedEvent):
        decode(value)


@given(event=events, data=st.data())
def test_any_field_missing_or_mistyped_is_refused(event: Event, data: st.DataObject) -> None:
    wire = encode(event)
    keys = sorted(k for k in wire if k != "t")
    if not keys:
        return
    key = data.draw(st.sampled_from(keys))
    with pytest.raises(MalformedEvent):
        decode({k: v for k, v in wire.items() if k != key})
    with pytest.raises(MalformedEvent):
        decode({**wire, key: data.draw(st.integers() | st.floats() | st.just([3]) | st.just({}))})


def test_the_events_module_is_pure() -> None:
    """No I/O: it imports the standard library only (no store, bus, cache, SQL or Redis)."""
    tree = ast.parse(Path(events_module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.partition(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").partition(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_a_revision_s_events_are_a_list() -> None:
    assert decode_all([{"t": "reload"}]) == [Reload()]
    with pytest.raises(MalformedEvent):
        decode_all({"t": "reload"})


# -- the carriers ----------------------------------------------------------------------------------------------------

def _damage_next_revision(db: Database, stored: Any) -> int:
    """Append a change log entry holding ``stored`` as its events, as a writer of another version might."""
    with db.engine.begin() as c:
        revision = int(c.execute(sa.update(Revision).where(Revision.id == 1).values(value=Revision.value + 1)
                                 .returning(Revision.value)).scalar_one())
        c.execute(sa.insert(Change).values(revision=revision, at=db.clock.now(), events=stored))
    return revision


def test_the_change_log_reads_old_rows_and_a_broken_one_as_a_reload(db: Database, world: World,
                                                                   clock: FrozenClock) -> None:
    world.product("pa")
    decider = Decider(clock)
    decider.load(read_snapshot(db))
    old = _damage_next_revision(db, [stored for stored, _ in STORED[:-1]])
    broken = _damage_next_revision(db, [{"t": "product", "code": "pb"}, {"t": "account_removed", "email": "a@x.nl"}])
    changes = db.changes_since(decider.revision)
    assert changes == [(old, [event for _, event in STORED[:-1]]), (broken, [Reload()])]
    assert decider.apply(old, changes[0][1])
    assert decider.apply(broken, changes[1][1]) is False  # the caller reloads from the tables
    assert "pb" not in decider.products and decider.revision == old


def test_a_signed_announcement_with_broken_events_is_read_from_sql() -> None:
    secret = b"the service's secret"
    for body in (b'[{"t": "grants", "email": "a@x.nl", "afnemer": "1", "products": "pa"}]', b'{"t": "reload"}',
                 b"[not json"):
        data = b"8|%s|%s" % (bus._signature(secret, 8, body), body)
        assert bus.decode(data, secret) == (8, None)
    good = bus.encode(8, [ProductCreated("pa")], secret)
    assert bus.decode(good, secret) == (8, [ProductCreated("pa")])


def test_events_from_the_change_log_and_from_an_announcement_apply_identically(
        db: Database, world: World, clock: FrozenClock, redis_prefix: str) -> None:
    """Every kind of change, written through the store: read from SQL, and carried signed over a real Redis, the
    events are equal, and two deciders fed one or the other are equal."""
    A, B, C = "10000001", "10000002", "10000003"
    spec = Spec(orgs=[A, B, C], products=["pa", "pb"],
                contracts={(A, "pa"): (date(2026, 6, 10), None), (A, "pb"): (date(2026, 6, 10), None)},
                mandates={(A, B): ((date(2026, 6, 10), None), None)},
                accounts={"alice@example.nl": (A, "active"), "bob@example.nl": (B, "active")},
                grants={("alice@example.nl", A): ["pa", "pb"], ("bob@example.nl", A): ["pa", "pb"]})
    write(world, spec)
    start = read_snapshot(db)
    for change in EVERY_CHANGE:
        _apply_change(db, spec, *change)
    from_sql = db.changes_since(start.revision)
    assert {type(e) for _, evs in from_sql for e in evs} == set(KINDS) - {Reload}
    heard: dict[int, list[Event] | None] = {}

    async def on_revision(revision: int, events: list[Event] | None) -> None:
        if revision:
            heard[revision] = events

    async def carry() -> None:
        carrier = RedisBus(REDIS_URL, redis_prefix, health_interval=0.1, secret="the service's secret")
        await carrier.start(on_revision)
        try:
            deadline = time.monotonic() + 10
            while not carrier.live(1.0) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for revision, events in from_sql:
                carrier.announce(revision, events)
                await carrier.flush(5.0)
            while len(heard) < len(from_sql) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        finally:
            await carrier.stop()

    asyncio.run(carry())
    assert heard == dict(from_sql)
    by_sql, by_redis = Decider(clock), Decider(clock)
    for decider, changes in ((by_sql, from_sql), (by_redis, sorted(heard.items()))):
        decider.load(start)
        for revision, events in changes:
            assert events is not None and decider.apply(revision, events)
    assert view_of(by_sql, spec, clock) == view_of(by_redis, spec, clock)
    fresh = Decider(clock)
    fresh.load(read_snapshot(db))
    assert view_of(by_redis, spec, clock) == view_of(fresh, spec, clock)

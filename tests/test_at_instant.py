"""Decisions as of an instant (NLGov ``context.time``, :mod:`authz.service.at_instant`), on SQLite and PostgreSQL.

The property: random changes over a frozen clock, ``/v1/check``'s answers recorded after each and between them;
afterwards ``decide_at`` for every one of those instants (exactly at a change, between changes, before anything
existed) answers what ``/v1/check`` answered then, reason, afnemers and revision included. A future instant,
asked before the clock gets there, answers what ``/v1/check`` answers once it has.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from authz import values
from authz.clock import AMSTERDAM, FrozenClock
from authz.errors import AuthzError, Invalid
from authz.service import at_instant
from authz.service import catalogue as catalogue_service
from authz.service.at_instant import NOW_TOLERANCE, Basis
from authz.store import accounts, catalogue, grants
from authz.store.db import Database
from tests.conftest import sync
from tests.factories import World

Query = tuple[str, str, str | None]
Answer = tuple[bool, str, tuple[str, ...], int]


def _state(client: TestClient) -> Any:
    return client.app.state.authz  # type: ignore[attr-defined]


def observe(api: TestClient, queries: list[Query]) -> dict[Query, Answer]:
    """What /v1/check answers now for each query (through /v1/check/batch, one call per afnemer asked)."""
    sync(api)
    out: dict[Query, Answer] = {}
    for _afnemer, group in itertools.groupby(sorted(queries, key=lambda q: q[2] or ""), key=lambda q: q[2]):
        items = list(group)
        checks = [{"user": u, "product": p, **({"afnemer": a} if a else {})} for u, p, a in items]
        r = api.post("/v1/check/batch", json={"checks": checks})
        assert r.status_code == 200, r.text
        body = r.json()
        for q, res in zip(items, body["results"], strict=True):
            out[q] = (res["allowed"], res["reason"], tuple(res["afnemers"]), body["revision"])
    return out


def answer(d: at_instant.DecisionAt) -> Answer:
    return d.allowed, d.reason.value, d.afnemers, d.revision


# -- the random changes ----------------------------------------------------------------------------------------

_EXAMPLE = itertools.count(1)


@dataclass
class Names:
    """Each example's own organisations, products and accounts (the database and clock outlive an example)."""

    n: int

    def __post_init__(self) -> None:
        base = 10_000_000 + self.n * 10
        self.a, self.i, self.c = str(base + 1), str(base + 2), str(base + 3)  # c: created along the way
        self.p, self.q = f"p{self.n}-polis", f"p{self.n}-loon"  # q: created along the way
        self.ua, self.ui, self.ul = f"ua{self.n}@a.example", f"ui{self.n}@i.example", f"ul{self.n}@i.example"
        self.nobody = f"nobody{self.n}@x.example"

    def queries(self) -> list[Query]:
        return [(u, p, a) for u in (self.ua, self.ui, self.ul, self.nobody) for p in (self.p, self.q, "zz-nothing")
                for a in (None, self.a, self.i, self.c)]


USERS, AFNEMERS, PRODUCTS = ("ua", "ui", "ul"), ("a", "i", "c"), ("p", "q")
MANDATES = (("a", "i"), ("c", "i"), ("i", "a"))  # (afnemer, intermediair)
DAYS = st.integers(-3, 3)
STEP = st.one_of(
    st.tuples(st.just("grant"), st.sampled_from(USERS), st.sampled_from(AFNEMERS),
              st.sets(st.sampled_from(PRODUCTS))),
    st.tuples(st.just("status"), st.sampled_from(USERS), st.sampled_from(("active", "inactive"))),
    st.tuples(st.just("contract"), st.sampled_from(AFNEMERS), st.sampled_from(PRODUCTS), DAYS,
              st.one_of(st.none(), DAYS)),
    st.tuples(st.just("end_contract"), st.sampled_from(AFNEMERS), st.sampled_from(PRODUCTS),
              st.sampled_from(("at_once", "removed"))),
    st.tuples(st.just("mandate"), st.sampled_from(MANDATES),
              st.one_of(st.none(), st.sets(st.sampled_from(PRODUCTS), min_size=1)), DAYS,
              st.one_of(st.none(), DAYS)),
    st.tuples(st.just("end_mandate"), st.sampled_from(MANDATES)),
    st.tuples(st.just("late"), st.sampled_from(("org", "product", "account"))),
)
# How far the clock moves before a change: not at all (two changes at one instant), a moment, hours, days, or to
# the next midnight in Europe/Amsterdam (the day the rules judge by turns exactly at the change).
MIDNIGHT = "midnight"
GAPS = st.sampled_from((timedelta(0), timedelta(microseconds=2), timedelta(seconds=3), timedelta(hours=5),
                        timedelta(days=1), timedelta(days=2), MIDNIGHT))


def next_midnight(at: datetime) -> datetime:
    day = at.astimezone(AMSTERDAM).date() + timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), AMSTERDAM).astimezone(UTC)


def apply(db: Database, names: Names, step: tuple[Any, ...]) -> None:
    """Make one change as the use cases and the store make it; one the data refuses (an unknown account, a
    contract that does not exist) changes nothing."""
    n = names
    kvk = {"a": n.a, "i": n.i, "c": n.c}
    code = {"p": n.p, "q": n.q}
    email = {"ua": n.ua, "ui": n.ui, "ul": n.ul}
    today = db.clock.today()
    kind = step[0]
    try:
        if kind == "grant":
            with db.tx("beheerder@test") as t:
                grants.replace(t, accounts.get(t, email[step[1]]), kvk[step[2]], {code[p] for p in step[3]}, None)
        elif kind == "status":
            with db.tx("beheerder@test") as t:
                accounts.set_status(t, accounts.get(t, email[step[1]]), step[2])
        elif kind == "contract":
            start = today + timedelta(days=step[3])
            until = start + timedelta(days=abs(step[4])) if step[4] is not None else None
            catalogue_service.put_contract(db, "operator@test", kvk[step[1]], code[step[2]], start, until)
        elif kind == "end_contract" and step[3] == "at_once":
            catalogue_service.end_contract(db, "operator@test", kvk[step[1]], code[step[2]])
        elif kind == "end_contract":
            with db.tx("cli:policy-import") as t:
                catalogue.end_contract(t, kvk[step[1]], code[step[2]])
        elif kind == "mandate":
            (afnemer, inter), products = step[1], step[2]
            start = today + timedelta(days=step[3])
            until = start + timedelta(days=abs(step[4])) if step[4] is not None else None
            catalogue_service.put_mandate(db, "operator@test", kvk[afnemer], kvk[inter],
                                          sorted(code[p] for p in products) if products else None, start, until)
        elif kind == "end_mandate":
            catalogue_service.end_mandate(db, "operator@test", kvk[step[1][0]], kvk[step[1][1]])
        elif step[1] == "org":
            World(db).org(n.c)
        elif step[1] == "product":
            World(db).product(n.q)
        else:
            World(db).account(n.ul, n.i)
    except AuthzError:
        pass


def start(world: World, n: Names) -> None:
    world.org(n.a)
    world.org(n.i)
    world.product(n.p)
    world.contract(n.a, n.p, valid_from=world.db.clock.today() - timedelta(days=30))
    world.mandate(n.a, n.i, None, valid_from=world.db.clock.today() - timedelta(days=30))
    world.account(n.ua, n.a)
    world.account(n.ui, n.i)
    world.grant(n.ua, n.a, [n.p])
    world.grant(n.ui, n.a, [n.p])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                               HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(GAPS, STEP), min_size=1, max_size=9),
       ahead=st.lists(st.sampled_from((timedelta(hours=3), timedelta(days=1), timedelta(days=2),
                                       timedelta(days=4))), min_size=1, max_size=2))
def test_decide_at_answers_what_check_answered_then(api: TestClient, db: Database, clock: FrozenClock,
                                                    steps: list[tuple[timedelta | str, tuple[Any, ...]]],
                                                    ahead: list[timedelta]) -> None:
    n = Names(next(_EXAMPLE))
    queries = n.queries()
    seen: dict[datetime, dict[Query, Answer]] = {}  # the last answer at each instant
    clock.advance(days=1)
    seen[clock.now()] = observe(api, queries)  # before anything of this example existed
    clock.advance(seconds=1)
    start(World(db), n)
    seen[clock.now()] = observe(api, queries)
    for gap, step in steps:
        if gap == MIDNIGHT:
            target = next_midnight(clock.now())
            clock.at = target - timedelta(microseconds=1)  # the last moment of a day
            seen[clock.now()] = observe(api, queries)
            clock.at = target
        elif gap:
            clock.advance(seconds=gap.total_seconds() / 2)  # between two changes
            seen[clock.now()] = observe(api, queries)
            clock.advance(seconds=gap.total_seconds() / 2)
        apply(db, n, step)
        seen[clock.now()] = observe(api, queries)  # exactly at the change (the last one, when several)

    # A later instant, asked now from the live decider, answers what /v1/check answers when that moment comes.
    st_ = _state(api)
    for offset in sorted(ahead):
        when = clock.now() + offset
        foretold = {q: answer(api.portal.call(at_instant.decide_at, st_.db, st_.decider, when, *q))  # type: ignore[union-attr]
                    for q in queries}
        assert {d[3] for d in foretold.values()} == {st_.decider.revision}
        clock.at = when
        seen[when] = observe(api, queries)
        assert foretold == seen[when]

    clock.advance(hours=1)  # every instant seen is now in the past
    for when, answers in seen.items():
        for q, expected in answers.items():
            d = at_instant.decide_past(st_.db, when, *q)
            assert (d.basis, d.at, answer(d)) == (Basis.TRAIL, when, expected), (when, q)
    # Now, and within the tolerance, is /v1/check itself.
    now = observe(api, queries)
    for q in queries[::5]:
        d = api.portal.call(at_instant.decide_at, st_.db, st_.decider, clock.now() - NOW_TOLERANCE / 2, *q)  # type: ignore[union-attr]
        assert (d.basis, answer(d)) == (Basis.NOW, now[q])


# -- the cases one by one --------------------------------------------------------------------------------------

A, INTER, X = "11111111", "22222222", "99999999"
ALICE, BOB = "alice@a.example", "bob@i.example"


def _decide(api: TestClient, when: datetime, user: str, product: str = "polis", afnemer: str | None = None
            ) -> at_instant.DecisionAt:
    s = _state(api)
    d: at_instant.DecisionAt = api.portal.call(at_instant.decide_at, s.db, s.decider, when, user, product,  # type: ignore[union-attr]
                                                afnemer)
    return d


def alice_holds_polis(world: World) -> None:
    world.org(A)
    world.product("polis")
    world.contract(A, "polis")
    world.account(ALICE, A)
    world.grant(ALICE, A, ["polis"])


def test_before_any_record_nobody_is_known(api: TestClient, world: World, clock: FrozenClock) -> None:
    early = clock.now()
    clock.advance(seconds=5)
    alice_holds_polis(world)
    sync(api)
    assert _decide(api, early, ALICE).reason == "unknown_user"
    assert _decide(api, early, ALICE, afnemer=A).reason == "unknown_user"  # R13: the user is named first
    assert _decide(api, early - timedelta(days=3650), ALICE).revision == 0
    assert _decide(api, clock.now(), ALICE).allowed


def test_a_revoked_grant_still_held_before_the_revocation(api: TestClient, world: World, clock: FrozenClock) -> None:
    alice_holds_polis(world)
    granted = clock.now()
    clock.advance(minutes=10)
    world.grant(ALICE, A, [])
    revoked = clock.now()
    clock.advance(minutes=10)
    sync(api)
    then = _decide(api, granted + timedelta(minutes=5), ALICE, afnemer=A)
    assert (then.allowed, then.reason, then.afnemers, then.basis) == (True, "granted", (A,), Basis.TRAIL)
    assert _decide(api, revoked, ALICE).reason == "no_grant"  # the instant of the change holds the change
    assert _decide(api, revoked - timedelta(microseconds=1), ALICE).allowed
    assert _decide(api, clock.now(), ALICE).reason == "no_grant"
    assert _decide(api, clock.now(), ALICE, afnemer=X).reason == "unknown_afnemer"


def test_ahead_counts_the_contracts_and_mandates_of_that_day(api: TestClient, world: World,
                                                             clock: FrozenClock) -> None:
    today = clock.today()
    world.org(A)
    world.org(INTER)
    world.product("polis")
    world.contract(A, "polis", valid_from=today + timedelta(days=3), valid_until=today + timedelta(days=9))
    world.mandate(A, INTER, ["polis"], valid_from=today - timedelta(days=1), valid_until=today + timedelta(days=5))
    world.account(BOB, INTER)
    world.grant(BOB, A, ["polis"])
    sync(api)
    by_day = {days: _decide(api, clock.now() + timedelta(days=days), BOB) for days in (0, 3, 5, 6, 10)}
    assert {days: d.reason.value for days, d in by_day.items()} == {
        0: "no_contract", 3: "granted", 5: "granted", 6: "no_mandate", 10: "no_contract"}
    assert {d.basis for days, d in by_day.items() if days} == {Basis.AHEAD}
    assert by_day[3].day == today + timedelta(days=3) and by_day[3].afnemers == (A,)
    # Today's grants and account status: a deactivated account is inactive on every later day too.
    world.set_status(BOB, "inactive")
    sync(api)
    assert _decide(api, clock.now() + timedelta(days=3), BOB).reason == "inactive_user"


def test_the_ends_of_the_calendar_are_answered(api: TestClient, world: World, clock: FrozenClock) -> None:
    alice_holds_polis(world)
    sync(api)
    first, last = values.instant("0001-01-01T00:00:00Z", "time"), values.instant("9999-12-31T21:00:00Z", "time")
    assert (_decide(api, first, ALICE, afnemer=A).reason, _decide(api, first, ALICE).revision) == (
        "unknown_user", 0)
    ahead = _decide(api, last, ALICE)
    assert (ahead.allowed, ahead.basis, ahead.day.year) == (True, Basis.AHEAD, 9999)  # an open-ended contract


def test_only_the_records_about_the_question_are_read(db: Database, world: World) -> None:
    """The replay asks for the records of a few subjects by the index, never the whole trail."""
    world.org(A)
    with db.read() as s:
        q = (sa.select(sa.text("id")).select_from(sa.table("audit"))
             .where(sa.column("subject").in_(["account:x", "product:y"]), sa.column("at") <= datetime.now(UTC)))
        sql = str(q.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
        if not db.is_sqlite:
            s.execute(sa.text("SET LOCAL enable_seqscan = off"))  # a tiny table: ask whether the index serves
        plan = " ".join(str(row) for row in s.execute(sa.text(explain + sql)))
    assert "ix_audit_subject_at" in plan, plan


# -- reading the instant ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("2026-06-15T10:00:00Z", datetime(2026, 6, 15, 10, tzinfo=UTC)),
    ("2026-06-15T12:00:00+02:00", datetime(2026, 6, 15, 10, tzinfo=UTC)),
    ("1985-10-26T01:22-07:00", datetime(1985, 10, 26, 8, 22, tzinfo=UTC)),  # the profile's own example
    ("2026-06-15t10:00:00.1234567z", datetime(2026, 6, 15, 10, 0, 0, 123456, tzinfo=UTC)),
    ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
])
def test_an_rfc3339_instant_is_read(text: str, expected: datetime) -> None:
    assert values.instant(text, "time") == expected


@pytest.mark.parametrize("text", [
    "2026-06-15T10:00:00", "2026-06-15", "2026-06-15 10:00:00Z", "2026-02-30T10:00:00Z", "2026-06-15T24:00:00Z",
    "2026-06-15T10:00:00+24:00", "9999-12-31T23:30:00Z", "0001-01-01T00:10:00+01:00", "１９８５-10-26T01:22Z", "",
    None, 1718445600, ["2026-06-15T10:00:00Z"],
])
def test_anything_else_is_invalid_time(text: Any) -> None:
    with pytest.raises(Invalid) as e:
        values.instant(text, "time")
    assert e.value.code == "invalid_time"


def test_the_tolerance_decides_which_case() -> None:
    now = datetime(2026, 6, 15, 10, tzinfo=UTC)
    cases: dict[timedelta, Basis] = {-NOW_TOLERANCE - timedelta(microseconds=1): Basis.TRAIL,
                                     -NOW_TOLERANCE: Basis.NOW, NOW_TOLERANCE: Basis.NOW,
                                     NOW_TOLERANCE + timedelta(microseconds=1): Basis.AHEAD}
    pick: Callable[[timedelta], Basis] = lambda d: at_instant.basis(now, now + d)  # noqa: E731
    assert {d: pick(d) for d in cases} == cases

"""Where SQL filters by a rule of authz.domain for speed, it selects exactly what the pure function says.

The beheerder screens (R2, R15) let the database pick the contracts and mandates valid on a day
(authz.store.catalogue; the rule is authz.domain.window.holds), and R4's guard lets it pick an organisation's
active beheerders (authz.store.accounts.active_beheerders; the rule is authz.domain.beheerders.active). Random
windows (open-ended ones, one-day ones, the ends of the calendar), random days (their boundaries and the days
beside them) and random accounts are written into real SQLite and PostgreSQL databases.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authz.clock import FrozenClock
from authz.domain import beheerders as r4
from authz.domain.state import Acct
from authz.domain.window import holds
from authz.store import accounts, catalogue
from tests.conftest import NOW
from tests.test_decider_equivalence import fresh_db, workdir  # noqa: F401 - workdir is a fixture

AFNEMERS = ("10000001", "10000002", "10000003", "10000004")
INTERMEDIAIR = "10000009"
PRODUCTS = ("pa", "pb")

Window = tuple[date, date | None]
ends = st.dates(min_value=date(1, 1, 2), max_value=date(9999, 12, 30))
near = st.integers(-2, 2).map(lambda n: date(2026, 6, 15) + timedelta(days=n))


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(near | ends)
    end = draw(st.none() | st.integers(0, 3).map(lambda n: min(start + timedelta(days=n), date(9999, 12, 30)))
               | ends.filter(lambda d: d >= start))
    return start, end


@st.composite
def worlds(draw: st.DrawFn) -> tuple[dict[tuple[str, str], Window], dict[str, Window], list[date]]:
    """(afnemer, product) -> contract window, afnemer -> window of its mandate to INTERMEDIAIR, and the days to ask
    about: every window's first and last day, the days beside them, and some others."""
    pairs = [(a, p) for a in AFNEMERS for p in PRODUCTS]
    contracts = {k: draw(windows()) for k in draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))}
    mandates = {a: draw(windows()) for a in draw(st.lists(st.sampled_from(AFNEMERS), unique=True))}
    edges = {d for start, end in [*contracts.values(), *mandates.values()] for d in (start, end) if d is not None}
    days = {d + timedelta(days=n) for d in edges for n in (-1, 0, 1)} | set(draw(st.lists(near | ends, max_size=3)))
    return contracts, mandates, sorted(days)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def template(request: pytest.FixtureRequest) -> Path | str:
    """What each example's database is made from: the SQLite template, or the run's PostgreSQL database."""
    found: Path | str = request.getfixturevalue("sqlite_template" if request.param == "sqlite" else "pg_database")
    return found


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_the_window_filters_of_sql_agree_with_the_rule(
        world: tuple[dict[tuple[str, str], Window], dict[str, Window], list[date]], template: Path | str,
        workdir: Path) -> None:  # noqa: F811 - the fixture
    contracts, mandates, days = world
    with fresh_db(template, workdir, FrozenClock(NOW)) as db:
        with db.tx("test") as t:
            for kvk in (*AFNEMERS, INTERMEDIAIR):
                catalogue.create_org(t, kvk, f"Organisatie {kvk}")
            for code in PRODUCTS:
                catalogue.create_product(t, code, code)
            for (afnemer, product), (start, end) in contracts.items():
                catalogue.put_contract(t, afnemer, product, start, end)
            for afnemer, (start, end) in mandates.items():
                catalogue.put_mandate(t, afnemer, INTERMEDIAIR, None, start, end)
        with db.tx("test") as t:
            for day in days:
                got = {(c.afnemer, c.product) for c in catalogue.contracts_valid_of(t.s, AFNEMERS, day)}
                assert got == {k for k, w in contracts.items() if holds(*w, day)}, (day, contracts)
                held = [m.afnemer for m in catalogue.mandates_held(t, INTERMEDIAIR, day)]
                assert held == sorted(a for a, w in mandates.items() if holds(*w, day)), (day, mandates)



members = st.lists(st.tuples(st.sampled_from(("approved", "active", "inactive")),
                             st.frozensets(st.sampled_from((r4.ROLE, "operator")))), max_size=5)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(found=members)
def test_the_active_beheerders_of_sql_are_those_r4_counts(found: list[tuple[str, frozenset[str]]],
                                                          template: Path | str, workdir: Path) -> None:  # noqa: F811
    org = AFNEMERS[0]
    want = [Acct(f"u{n}@example.nl", "", org, status, tuple(sorted(roles))) for n, (status, roles) in
            enumerate(found)]
    with fresh_db(template, workdir, FrozenClock(NOW)) as db:
        with db.tx("test") as t:
            catalogue.create_org(t, org, "Organisatie")
            for a in want:
                accounts.create(t, a.email, org, "!", a.status, role_set=set(a.roles))
        with db.tx("test") as t:
            assert [a.email for a in accounts.active_beheerders(t, org)] == r4.active(want)

"""The in-memory decider decides exactly as Casbin does (policy.conf over the lines in casbin_rule).

Random worlds are written into a real database through the store; the decider is loaded from SQL
(``read_snapshot``), the reference is Casbin over the lines read back through Casbin's SQLAlchemy adapter. For every
user (also unknown ones), product (also unknown), afnemer (also unknown) or none, and several days around the
validity windows, the answers must be identical: allowed, reason and afnemers. A second property applies random
changes through the store and checks that a decider fed the change events equals one loaded afresh, and both equal
Casbin; a fixed sequence makes every kind of event of :mod:`authz.events` occur.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authz.clock import FrozenClock
from authz.decider import Decider
from authz.events import KINDS, Reload
from authz.policy import Reference
from authz.store import accounts, catalogue, grants, keys, rules
from authz.store.db import Database
from authz.store.snapshot import read_snapshot
from tests.conftest import NOW, _empty_pg, _pg_url
from tests.factories import World

ORGS = ("10000001", "10000002", "10000003", "10000004")
PRODUCTS = ("pa", "pb", "pc")
STATUSES = ("approved", "active", "inactive")
# Windows start and end on these days; checks run on them and on the day before and after.
EDGES = tuple(date(2026, 6, 10) + timedelta(days=i) for i in range(5))
CHECK_DAYS = (EDGES[0] - timedelta(days=1), *EDGES, EDGES[-1] + timedelta(days=1))
UNKNOWN_USER = "niemand@nergens.nl"
UNKNOWN_PRODUCT = "zz-onbekend"
UNKNOWN_AFNEMER = "99999999"  # well-formed, names no organisation of any world (R13: unknown_afnemer)

Window = tuple[date, date | None]


@dataclass
class Spec:
    """What the test wrote, as the test understands it: the source of the reference's account and product facts."""

    orgs: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    contracts: dict[tuple[str, str], Window] = field(default_factory=dict)
    mandates: dict[tuple[str, str], tuple[Window, list[str] | None]] = field(default_factory=dict)
    accounts: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    grants: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (email, afnemer) -> products


# -- strategies ------------------------------------------------------------------------------------------------------

windows = st.sampled_from(EDGES).flatmap(
    lambda start: st.tuples(st.just(start), st.none() | st.sampled_from([d for d in EDGES if d >= start])))


def subsets(items: list[str], min_size: int = 0) -> st.SearchStrategy[list[str]]:
    if not items:
        return st.just([])
    return st.lists(st.sampled_from(items), min_size=min_size, max_size=len(items), unique=True).map(sorted)


# Mostly active accounts: the other statuses end a check early, before the conditions worth comparing.
statuses = st.sampled_from(("active", "active", "active", "approved", "inactive"))


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    spec = Spec()
    spec.orgs = list(ORGS[:draw(st.integers(2, len(ORGS)))])
    spec.products = list(PRODUCTS[:draw(st.integers(1, len(PRODUCTS)))])
    # Chains first: an account of organisation O with a grant from afnemer A, A's contracts for those products
    # and, when O is not A, a mandate from A to O. Only there do all of R1's conditions meet; purely random
    # worlds reach them too rarely to catch, say, a mandate's product subset read the wrong way round.
    for n in range(draw(st.integers(1, 3))):
        afnemer, org = draw(st.sampled_from(spec.orgs)), draw(st.sampled_from(spec.orgs))
        products = draw(subsets(spec.products, min_size=1))
        for product in products:
            if (afnemer, product) not in spec.contracts:
                spec.contracts[(afnemer, product)] = draw(windows)
        if org != afnemer and (afnemer, org) not in spec.mandates:
            spec.mandates[(afnemer, org)] = (draw(windows), draw(st.none() | subsets(spec.products)))
        spec.accounts[f"chain{n}@example.nl"] = (org, draw(statuses))
        spec.grants[(f"chain{n}@example.nl", afnemer)] = products
    # Then noise: any contract, mandate, account or grant, also ones that lead nowhere.
    for afnemer in spec.orgs:
        for product in spec.products:
            if (afnemer, product) not in spec.contracts and draw(st.booleans()):
                spec.contracts[(afnemer, product)] = draw(windows)
    pairs = [(a, i) for a in spec.orgs for i in spec.orgs if a != i]
    for pair in draw(st.lists(st.sampled_from(pairs), unique=True, max_size=4)):
        if pair not in spec.mandates:
            spec.mandates[pair] = (draw(windows), draw(st.none() | subsets(spec.products)))
    for n in range(draw(st.integers(0 if spec.accounts else 1, 4))):
        org = draw(st.sampled_from(spec.orgs) | st.none())  # None: an account of no organisation (an operator)
        spec.accounts[f"user{n}@example.nl"] = (org, draw(statuses))
    for email in list(spec.accounts):
        # Grants from any afnemer, also ones without a contract or a mandate (inert grants).
        for afnemer in draw(st.lists(st.sampled_from(spec.orgs), unique=True, max_size=3)):
            products = draw(subsets(spec.products))
            if products and (email, afnemer) not in spec.grants:
                spec.grants[(email, afnemer)] = products
    return spec


def write(world: World, spec: Spec) -> None:
    for kvk in spec.orgs:
        world.org(kvk)
    for code in spec.products:
        world.product(code)
    for (afnemer, product), (start, end) in spec.contracts.items():
        world.contract(afnemer, product, start, end)
    for (afnemer, intermediair), ((start, end), products) in spec.mandates.items():
        world.mandate(afnemer, intermediair, products, start, end)
    for email, (org, status) in spec.accounts.items():
        world.account(email, org, status)
    for (email, afnemer), products in spec.grants.items():
        world.grant(email, afnemer, products)


# -- databases -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the examples' SQLite files go: memory-backed /dev/shm when there is one (a commit there needs no disk
    flush, which makes the examples about four times faster), else pytest's temporary directory."""
    shm = Path("/dev/shm")  # noqa: S108 - only as the parent of a mkdtemp directory
    if not shm.is_dir():
        yield tmp_path_factory.mktemp("equivalence")
        return
    path = Path(tempfile.mkdtemp(prefix="authz-equivalence-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def fresh_db(template: Path | str, workdir: Path, clock: FrozenClock) -> Iterator[Database]:
    """A migrated, empty database for one example: a copy of the SQLite template, or the emptied PostgreSQL one."""
    if isinstance(template, Path):
        path = workdir / f"{uuid.uuid4().hex}.db"
        shutil.copy(template, path)
        db = Database(f"sqlite:///{path}", clock)
        try:
            yield db
        finally:
            db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    # PostgreSQL: the run's database, emptied for each example.
    url = _pg_url(template)
    _empty_pg(url)
    db = Database(url, clock)
    try:
        yield db
    finally:
        db.dispose()


# -- the comparison --------------------------------------------------------------------------------------------------

def loaded(db: Database, clock: FrozenClock) -> Decider:
    decider = Decider(clock)
    decider.load(read_snapshot(db))
    return decider


def assert_same_as_casbin(deciders: list[Decider], db: Database, spec: Spec, clock: FrozenClock,
                          days: list[date]) -> int:
    """Every question on every day: each decider's answer equals Casbin's. Returns the number of questions."""
    reference = Reference(rules.all_lines(db))
    users = [*spec.accounts, UNKNOWN_USER]
    products = [*spec.products, UNKNOWN_PRODUCT]
    asked = 0
    for day in days:
        clock.set_day(day)
        for user in users:
            for product in products:
                for afnemer in [None, *spec.orgs, UNKNOWN_AFNEMER]:
                    want = reference.decide(user, product, afnemer, day, account=spec.accounts.get(user),
                                            product_known=product in spec.products,
                                            afnemer_known=afnemer is None or afnemer in spec.orgs)
                    for decider in deciders:
                        got = decider.check(user, product, afnemer)
                        assert (got.allowed, got.reason.value, got.afnemers) == (
                            want.allowed, want.reason, want.afnemers), (
                            f"{user} views {product} for {afnemer or 'any afnemer'} on {day}: decider {got}, "
                            f"Casbin {want}\nworld: {spec}")
                    asked += 1
        for product in products:  # who may view it: the pairs Casbin allows, in (user, afnemer) order, paged
            for afnemer in [None, *spec.orgs]:
                want_pairs = sorted((u, a) for u in spec.accounts for a in ([afnemer] if afnemer else spec.orgs)
                                    if reference.decide(u, product, a, day, account=spec.accounts.get(u),
                                                        product_known=product in spec.products,
                                                        afnemer_known=True).allowed)
                for decider in deciders:
                    assert list(decider.users_of(product, afnemer)) == want_pairs, (product, afnemer, day, spec)
                    for i, after in enumerate(want_pairs):
                        assert list(decider.users_of(product, afnemer, after)) == want_pairs[i + 1:]
    return asked


def world_equals_casbin(template: Path | str, workdir: Path, spec: Spec, days: list[date]) -> None:
    clock = FrozenClock(NOW)
    with fresh_db(template, workdir, clock) as db:
        write(World(db), spec)
        assert_same_as_casbin([loaded(db, clock)], db, spec, clock, days)


check_days = st.lists(st.sampled_from(CHECK_DAYS), min_size=2, max_size=4, unique=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), days=check_days)
def test_decider_decides_as_casbin_on_sqlite(spec: Spec, days: list[date], sqlite_template: Path,
                                             workdir: Path) -> None:
    world_equals_casbin(sqlite_template, workdir, spec, days)


@pytest.mark.postgres
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), days=check_days)
def test_decider_decides_as_casbin_on_postgres(spec: Spec, days: list[date], pg_database: str,
                                               workdir: Path) -> None:
    world_equals_casbin(pg_database, workdir, spec, days)


# -- change sequences ------------------------------------------------------------------------------------------------

# Changes to what grants rest on come most often: contracts and mandates (mostly ones that exist, so that the
# accounts of the world's chains feel them), grants and statuses; new products, organisations and roles now and then.
_KINDS = ("contract", "contract", "contract_end", "mandate", "mandate", "mandate_end", "status", "grants", "grants",
          "account", "product", "org", "role")


def _draw_change(data: st.DataObject, spec: Spec, n: int) -> tuple[str, Any]:
    kind = data.draw(st.sampled_from(_KINDS))
    if kind == "contract_end" and spec.contracts:
        return kind, data.draw(st.sampled_from(sorted(spec.contracts)))
    if kind == "mandate_end" and spec.mandates:
        return kind, data.draw(st.sampled_from(sorted(spec.mandates)))
    if kind == "status" and spec.accounts:
        return kind, (data.draw(st.sampled_from(sorted(spec.accounts))), data.draw(st.sampled_from(STATUSES)))
    if kind == "role" and spec.accounts:
        return kind, (data.draw(st.sampled_from(sorted(spec.accounts))), data.draw(st.booleans()))
    if kind == "grants" and spec.accounts:
        return kind, (data.draw(st.sampled_from(sorted(spec.accounts))), data.draw(st.sampled_from(spec.orgs)),
                      data.draw(subsets(spec.products)))
    if kind == "account":
        return kind, (f"new{n}@example.nl", data.draw(st.sampled_from(spec.orgs) | st.none()),
                      data.draw(st.sampled_from(STATUSES)))
    if kind == "product" and len(spec.products) < len(PRODUCTS):
        return kind, PRODUCTS[len(spec.products)]
    if kind == "org" and len(spec.orgs) < len(ORGS):
        return kind, ORGS[len(spec.orgs)]
    if kind == "mandate":
        pairs = [(a, i) for a in spec.orgs for i in spec.orgs if a != i]
        a, i = data.draw(st.sampled_from(sorted(spec.mandates)) if spec.mandates and data.draw(st.integers(0, 3))
                         else st.sampled_from(pairs))
        return kind, (a, i, data.draw(windows), data.draw(st.none() | subsets(spec.products)))
    if spec.contracts and data.draw(st.booleans()):
        afnemer, product = data.draw(st.sampled_from(sorted(spec.contracts)))
    else:
        afnemer, product = data.draw(st.sampled_from(spec.orgs)), data.draw(st.sampled_from(spec.products))
    return "contract", (afnemer, product, data.draw(windows))


def _apply_change(db: Database, spec: Spec, kind: str, args: Any) -> None:
    """One change through the store, in one transaction, as the API would make it; the spec follows."""
    with db.tx("test") as t:
        if kind == "contract":
            afnemer, product, (start, end) = args
            catalogue.put_contract(t, afnemer, product, start, end)
            spec.contracts[(afnemer, product)] = (start, end)
        elif kind == "contract_end":
            catalogue.end_contract(t, *args)
            del spec.contracts[args]
        elif kind == "mandate":
            afnemer, intermediair, (start, end), products = args
            catalogue.put_mandate(t, afnemer, intermediair, products, start, end)
            spec.mandates[(afnemer, intermediair)] = ((start, end), products)
        elif kind == "mandate_end":
            catalogue.end_mandate(t, *args)
            del spec.mandates[args]
        elif kind == "status":
            email, status = args
            accounts.set_status(t, accounts.get(t, email), status)
            spec.accounts[email] = (spec.accounts[email][0], status)
        elif kind == "role":
            email, held = args
            accounts.set_role(t, accounts.get(t, email), "beheerder", held)
        elif kind == "grants":
            email, afnemer, products = args
            grants.replace(t, accounts.get(t, email), afnemer, set(products), None)
            spec.grants[(email, afnemer)] = products
        elif kind == "account":
            email, org, status = args
            accounts.create(t, email, org, "x", status)
            spec.accounts[email] = (org, status)
        elif kind == "product":
            catalogue.create_product(t, args, args.upper())
            spec.products.append(args)
        elif kind == "org":
            catalogue.create_org(t, args, f"Organisatie {args}")
            spec.orgs.append(args)
        elif kind == "key":
            keys.create(t, args)
        elif kind == "key_revoke":
            keys.revoke(t, args)


def catch_up(decider: Decider, db: Database) -> bool:
    """What Sync.catch_up does, synchronously: apply each revision's events; False when a reload was needed."""
    for revision, events in db.changes_since(decider.revision):
        if revision != decider.revision + 1 or not decider.apply(revision, events):
            decider.load(read_snapshot(db))
            return False
    return True


def view_of(decider: Decider, spec: Spec, clock: FrozenClock) -> dict[str, Any]:
    """Everything the decider tells its callers, on every day that matters: two deciders that agree here are equal
    for every purpose (compared through the public interface, so the index's layout may change freely)."""
    users = [*spec.accounts, UNKNOWN_USER]
    products = [*spec.products, UNKNOWN_PRODUCT]
    view: dict[str, Any] = {
        "revision": decider.revision, "orgs": dict(decider.orgs), "products": set(decider.products),
        "keys": dict(decider.keys), "stats": decider.stats(), "accounts": {u: decider.account(u) for u in users},
    }
    for day in CHECK_DAYS:
        clock.set_day(day)
        view[f"products_of {day}"] = {u: decider.products_of(u) for u in users}
        view[f"users_of {day}"] = {(p, a): list(decider.users_of(p, a)) for p in products for a in [None, *spec.orgs]}
        view[f"checks {day}"] = {(u, p, a): decider.check(u, p, a)[:3] for u in users for p in products
                                 for a in [None, *spec.orgs]}
    return view


def changes_equal_fresh_load(template: Path | str, workdir: Path, spec: Spec, data: st.DataObject) -> None:
    clock = FrozenClock(NOW)
    with fresh_db(template, workdir, clock) as db:
        write(World(db), spec)
        incremental = loaded(db, clock)
        for n in range(data.draw(st.integers(1, 12), label="number of changes")):
            change = _draw_change(data, spec, n)
            _apply_change(db, spec, *change)
            assert catch_up(incremental, db), f"change {change} could not be applied in place"
            fresh = loaded(db, clock)
            assert view_of(incremental, spec, clock) == view_of(fresh, spec, clock), f"after {change}"
        days = data.draw(check_days, label="days")
        assert_same_as_casbin([incremental, loaded(db, clock)], db, spec, clock, days)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), data=st.data())
def test_changes_applied_in_place_equal_a_fresh_load_and_casbin_on_sqlite(
        spec: Spec, data: st.DataObject, sqlite_template: Path, workdir: Path) -> None:
    changes_equal_fresh_load(sqlite_template, workdir, spec, data)


@pytest.mark.postgres
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), data=st.data())
def test_changes_applied_in_place_equal_a_fresh_load_and_casbin_on_postgres(
        spec: Spec, data: st.DataObject, pg_database: str, workdir: Path) -> None:
    changes_equal_fresh_load(pg_database, workdir, spec, data)


# Every kind of change event, in a world where each one matters: the property above finds the unexpected, this
# sequence makes sure no event kind is ever left out by chance.
A, B, C = ORGS[:3]
EVERY_CHANGE: list[tuple[str, Any]] = [
    ("mandate", (A, B, (EDGES[0], None), ["pa"])),
    ("mandate", (A, B, (EDGES[1], EDGES[3]), ["pa", "pb"])),
    ("mandate", (A, B, (EDGES[1], EDGES[3]), None)),
    ("mandate_end", (A, B)),
    ("mandate", (A, B, (EDGES[2], None), ["pb"])),
    ("contract", (A, "pa", (EDGES[1], EDGES[2]))),
    ("contract_end", (A, "pb")),
    ("contract", (A, "pb", (EDGES[3], None))),
    ("grants", ("bob@example.nl", A, ["pa"])),
    ("grants", ("bob@example.nl", C, ["pa", "pb"])),
    ("grants", ("bob@example.nl", A, ["pa", "pb"])),
    ("status", ("bob@example.nl", "inactive")),
    ("status", ("bob@example.nl", "active")),
    ("role", ("bob@example.nl", True)),
    ("account", ("new@example.nl", B, "active")),
    ("grants", ("new@example.nl", C, ["pa"])),
    ("mandate", (C, B, (EDGES[0], None), [])),
    ("product", "pc"),
    ("contract", (A, "pc", (EDGES[0], None))),
    ("grants", ("alice@example.nl", A, ["pa", "pc"])),
    ("org", ORGS[3]),
    ("grants", ("bob@example.nl", A, [])),
    ("key", "salarisportaal"),
    ("key", "loonstrook"),
    ("key_revoke", "salarisportaal"),
]


def test_every_kind_of_change_applies_in_place_as_a_fresh_load_and_casbin_decide(db: Database, world: World,
                                                                                  clock: FrozenClock) -> None:
    spec = Spec(orgs=[A, B, C], products=["pa", "pb"],
                contracts={(A, "pa"): (EDGES[0], None), (A, "pb"): (EDGES[0], None), (C, "pa"): (EDGES[0], None)},
                mandates={(A, B): ((EDGES[0], None), None)},
                accounts={"alice@example.nl": (A, "active"), "bob@example.nl": (B, "active")},
                grants={("alice@example.nl", A): ["pa", "pb"], ("bob@example.nl", A): ["pa", "pb"]})
    write(world, spec)
    incremental = loaded(db, clock)
    for change in EVERY_CHANGE:
        _apply_change(db, spec, *change)
        assert catch_up(incremental, db), f"change {change} could not be applied in place"
        fresh = loaded(db, clock)
        assert view_of(incremental, spec, clock) == view_of(fresh, spec, clock), f"after {change}"
        assert_same_as_casbin([incremental, fresh], db, spec, clock, list(CHECK_DAYS))
    # Every kind but Reload (a bulk load's, which no decider applies in place) occurred and was applied in place.
    occurred = {type(e) for _, events in db.changes_since(0) for e in events}
    assert occurred == set(KINDS) - {Reload}


def test_casbin_rule_read_through_the_adapter_matches_the_domain_tables(db: Database, world: World) -> None:
    """The reference reads what the projection wrote: the adapter's lines equal the lines derived from the tables."""
    write(world, Spec(orgs=["10000001", "10000002"], products=["pa", "pb"],
                      contracts={("10000001", "pa"): (EDGES[0], None)},
                      mandates={("10000001", "10000002"): ((EDGES[0], EDGES[2]), ["pa"])},
                      accounts={"a@example.nl": ("10000002", "active"), "b@example.nl": ("10000001", "inactive")},
                      grants={("a@example.nl", "10000001"): ["pa", "pb"]}))
    with db.read() as s:
        assert sorted(rules.all_lines(db)) == rules.derived_lines(s)
    assert sorted(rules.lines_for(db, "a@example.nl", "10000002", "pa")) == sorted([
        ("p", "a@example.nl", "10000001", "pa"), ("g", "a@example.nl", "active", "10000002"),
        ("g2", "10000001", "10000001/pa", "2026-06-10.."), ("g3", "10000002", "10000001/pa", "2026-06-10..2026-06-12"),
    ])

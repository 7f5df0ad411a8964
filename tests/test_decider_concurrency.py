"""Checks while changes are applied: never an exception, never an answer mixed from two revisions.

The decider is written on the event loop thread only (Sync.catch_up), and a check runs on that thread without
yielding, so each answer belongs wholly to one revision. Here many revisions are committed and applied while
requests run through the app from several threads; every answer must be exactly the one of the revision it names.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from starlette.testclient import TestClient

from authz.clock import FrozenClock
from authz.decider import Decider
from authz.store import accounts, grants
from authz.store.db import Database
from authz.store.snapshot import read_snapshot
from tests.conftest import sync
from tests.factories import World

AFNEMER = "11111111"
PRODUCTS = ["pa", "pb", "pc", "pd", "pe"]
USER = "alice@korenschoof.nl"
REVISIONS = 40


def _build(world: World) -> None:
    world.org(AFNEMER, "Bakkerij De Korenschoof")
    for code in PRODUCTS:
        world.product(code)
        world.contract(AFNEMER, code, valid_from=date(2026, 1, 1))
    world.account(USER, AFNEMER)


def _ticked(i: int) -> set[str]:
    """The grant set of revision step i: changes at every step, and no two neighbours are equal."""
    return {p for n, p in enumerate(PRODUCTS) if (i >> n) & 1} if i % 2 else {PRODUCTS[i % len(PRODUCTS)]}


def _write(db: Database, products: set[str]) -> int:
    with db.tx("beheerder@korenschoof.nl", AFNEMER) as t:
        grants.replace(t, accounts.get(t, USER), AFNEMER, products, None)
    return t.revision


def test_checks_during_catch_up_answer_from_one_revision(api: TestClient, world: World, db: Database) -> None:
    _build(world)
    first = sync(api)
    expected: dict[int, set[str]] = {first: set()}
    answers: list[tuple[int, list[bool]]] = []
    singles: list[tuple[int, str, bool]] = []
    errors: list[str] = []
    stop = threading.Event()

    def ask(n: int) -> None:
        while not stop.is_set():
            r = api.post("/v1/check/batch", json={"checks": [{"user": USER, "product": p} for p in PRODUCTS]})
            if r.status_code != 200:
                errors.append(r.text)
                continue
            body = r.json()
            answers.append((body["revision"], [x["allowed"] for x in body["results"]]))
            product = PRODUCTS[n % len(PRODUCTS)]
            one = api.post("/v1/check", json={"user": USER, "product": product, "afnemer": AFNEMER})
            if one.status_code != 200:
                errors.append(one.text)
                continue
            singles.append((one.json()["revision"], product, one.json()["allowed"]))
            n += 1

    readers = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for reader in readers:
        reader.start()
    try:
        st: Any = api.app.state.authz  # type: ignore[attr-defined]
        for i in range(1, REVISIONS + 1):
            expected[_write(db, _ticked(i))] = _ticked(i)
            if i % 3 == 0:  # now and then let several revisions pile up, to be applied in one go
                api.portal.call(st.sync.catch_up)  # type: ignore[union-attr]
        final = sync(api)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not errors, errors[:3]
    assert final == max(expected)
    seen = {revision for revision, _ in answers}
    assert len(seen) > 3, f"the readers saw too few revisions to prove anything: {sorted(seen)}"
    for revision, allowed in answers:
        assert allowed == [p in expected[revision] for p in PRODUCTS], f"mixed answer at revision {revision}"
    for revision, product, allowed in singles:
        assert allowed is (product in expected[revision]), f"{product} at revision {revision}"


def test_checks_from_threads_never_raise_while_changes_are_applied(db: Database, world: World,
                                                                     clock: FrozenClock) -> None:
    """A plain ``def`` endpoint runs in a worker thread: reading the decider there must never raise, even while the
    loop applies changes (answers from a thread may straddle two revisions; the decision API reads on the loop)."""
    _build(world)
    start = read_snapshot(db)
    decider = Decider(clock)
    decider.load(start)
    for i in range(1, REVISIONS + 1):
        _write(db, _ticked(i))
    changes = db.changes_since(decider.revision)
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                for p in PRODUCTS:
                    decider.check(USER, p)
                    decider.check(USER, p, AFNEMER)
                decider.products_of(USER)
                decider.stats()
        except BaseException as exc:  # any exception at all is the failure looked for
            failures.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(25):  # load, apply every revision, and again: many writes under the readers
            decider.load(start)
            for revision, events in changes:
                assert decider.apply(revision, events)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not failures, failures[:3]

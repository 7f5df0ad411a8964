"""A random sequence of writes through the HTTP API of two real instances, alternating; then both instances agree
with a fresh decider built from SQL on every user × product × afnemer (R11, SPEC §5)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx2 as httpx
import pytest

from authz.clock import Clock
from authz.decider import Decider
from authz.store import keys
from authz.store.db import Database
from authz.store.snapshot import read_snapshot
from tests.factories import PASSWORD, REDIS_URL, World
from tests.instances import Instance

AFNEMERS = ("11111111", "22222222")
INTERMEDIAIR = "33333333"
ORGS = (*AFNEMERS, INTERMEDIAIR)
PRODUCTS = ("polisadministratie", "verzuim", "loonaangifte")
OPERATOR = "operator@gegevensdiensten.nl"
USERS = {"11111111": ["a1@een.nl", "a2@een.nl"], "22222222": ["b1@twee.nl"], INTERMEDIAIR: ["i1@adviseur.nl",
                                                                                          "i2@adviseur.nl"]}
SEEDS = (1, 2)


def beheerder(org: str) -> str:
    return f"beheerder-{org}@example.nl"


@pytest.fixture
def cluster(pg_url: str) -> Iterator[tuple[list[Instance], Database, str]]:
    db = Database(pg_url)
    w = World(db)
    for kvk in ORGS:
        w.org(kvk)
        w.beheerder(beheerder(kvk), kvk)
        for email in USERS[kvk]:
            w.account(email, kvk)
    for code in PRODUCTS:
        w.product(code)
    for kvk in AFNEMERS:
        for code in PRODUCTS:
            w.contract(kvk, code, date(2020, 1, 1))
    w.operator(OPERATOR)
    with db.tx("test") as t:
        key = keys.create(t, "cluster-property")
    env = {"AUTHZ_DATABASE_URL": pg_url, "AUTHZ_SECRET_KEY": "cluster-property", "AUTHZ_REDIS_URL": REDIS_URL,
           "AUTHZ_REDIS_PREFIX": f"authz-test-{uuid.uuid4().hex[:8]}:"}
    instances = [Instance(env, name) for name in "AB"]
    try:
        for i in instances:
            i.wait_ready()
            i.client.headers["Authorization"] = f"Bearer {key}"
        yield instances, db, key
    finally:
        for i in instances:
            i.stop()
        db.dispose()


def sessions(i: Instance) -> dict[str, httpx.Client]:
    """A logged-in client per beheerder and for the operator, on instance ``i``."""
    out = {}
    for who in (*[beheerder(k) for k in ORGS], OPERATOR):
        c = httpx.Client(base_url=i.url, timeout=10)
        r = c.post("/v1/session", json={"email": who, "password": PASSWORD})
        assert r.status_code == 200, r.text
        out[who] = c
    return out


def random_write(rnd: random.Random, s: dict[str, httpx.Client]) -> httpx.Response:
    kind = rnd.choice(["grants", "grants", "grants", "contract", "mandate"])
    some = sorted(rnd.sample(PRODUCTS, rnd.randint(0, len(PRODUCTS))))
    if kind == "grants":
        org = rnd.choice(ORGS)
        user = rnd.choice(USERS[org])
        afnemer = rnd.choice(AFNEMERS) if org == INTERMEDIAIR else org
        return s[beheerder(org)].put(f"/v1/orgs/{org}/users/{user}/grants",
                                     json={"afnemer": afnemer, "products": some})
    op = s[OPERATOR]
    afnemer = rnd.choice(AFNEMERS)
    if kind == "contract":
        product = rnd.choice(PRODUCTS)
        if rnd.random() < 0.25:
            return op.delete(f"/v1/operator/contracts/{afnemer}/{product}")
        ended = rnd.random() < 0.25
        return op.put(f"/v1/operator/contracts/{afnemer}/{product}",
                      json={"valid_from": "2020-01-01", "valid_until": "2021-01-01" if ended else None})
    if rnd.random() < 0.25:
        return op.delete(f"/v1/operator/mandates/{afnemer}/{INTERMEDIAIR}")
    return op.put(f"/v1/operator/mandates/{afnemer}/{INTERMEDIAIR}",
                  json={"products": some or None, "valid_from": "2020-01-01"})


def every_check() -> list[dict[str, Any]]:
    users = [u for org in ORGS for u in USERS[org]] + [beheerder(k) for k in ORGS]
    return [{"user": u, "product": p, **({"afnemer": a} if a else {})}
            for u in users for p in PRODUCTS for a in (*ORGS, None)]


@pytest.mark.parametrize("seed", SEEDS)
def test_random_writes_on_both_instances_agree_with_sql(seed: int,
                                                        cluster: tuple[list[Instance], Database, str]) -> None:
    instances, db, _ = cluster
    rnd = random.Random(seed)
    logged_in = [sessions(i) for i in instances]
    revision, written = 0, 0
    try:
        for step in range(40):
            r = random_write(rnd, logged_in[step % 2])  # alternating A, B, A, ...
            assert r.status_code < 500, r.text
            if r.status_code == 200:
                revision = max(revision, r.json()["revision"])
                written += 1
            else:  # a refused write (e.g. a product the afnemer has no contract for) changes nothing
                assert r.status_code in (403, 404, 409, 422), r.text
        assert written >= 20
        fresh = Decider(Clock())
        fresh.load(read_snapshot(db))
        assert fresh.revision == db.revision() >= revision
        checks = every_check()
        expected = [{"allowed": d.allowed, "reason": str(d.reason), "afnemers": list(d.afnemers)}
                    for d in (fresh.check(c["user"], c["product"], c.get("afnemer")) for c in checks)]
        assert any(e["allowed"] for e in expected) and not all(e["allowed"] for e in expected)
        for i in instances:
            r = i.client.post("/v1/check/batch", json={"checks": checks, "min_revision": fresh.revision})
            assert r.status_code == 200, r.text
            assert r.json()["revision"] == fresh.revision
            assert r.json()["results"] == expected, i.name
    finally:
        for s in logged_in:
            for c in s.values():
                c.close()

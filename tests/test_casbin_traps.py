"""The measured traps of the Casbin stack (the SQLAlchemy adapter's remove_policies deletes more than asked; client
strings reaching an engine), and proof that the design steps around them."""

from __future__ import annotations

import copy
import random
import string
from typing import Any

from sqlalchemy import select
from sqlalchemy_adapter.adapter import Adapter
from starlette.testclient import TestClient

from authz import policy
from authz.decider import Decider
from authz.store import projection, rules
from authz.store.db import Database
from authz.store.schema import CasbinRule
from tests.conftest import sync
from tests.factories import World

AFNEMER = "11111111"
OTHER = "22222222"

# Four grant lines: every combination of two accounts and two afnemers, for one product.
FOUR = [("p", user, afnemer, "verzuim") for user in ("a@x.nl", "b@x.nl") for afnemer in (AFNEMER, OTHER)]
TWO = [FOUR[0], FOUR[3]]  # (a, 11111111) and (b, 22222222)


def _stored(db: Database) -> list[tuple[str, ...]]:
    with db.read() as s:
        return rules.stored_lines(s)


def _seed(db: Database) -> None:
    with db.tx("test") as t:
        projection.add(t.s, FOUR)
        t.audit("test.seed", "casbin_rule", None, None)


def test_the_adapters_remove_policies_deletes_more_than_asked(db: Database) -> None:
    """The trap: removing 2 of 4 lines through sqlalchemy-adapter deletes all 4 rows (it filters each column with
    IN over the given values, so every combination goes). This is why the adapter only reads."""
    _seed(db)
    Adapter(db.engine, db_class=CasbinRule, create_table=False).remove_policies("p", "p", [list(x[1:]) for x in TWO])
    assert _stored(db) == []


def test_projection_remove_deletes_exactly_the_given_lines(db: Database) -> None:
    _seed(db)
    with db.tx("test") as t:
        projection.remove(t.s, TWO)
        t.audit("test.remove", "casbin_rule", None, None)
    assert _stored(db) == sorted(set(FOUR) - set(TWO))
    # ... and the adapter reads back exactly what is left.
    assert sorted(rules.all_lines(db)) == sorted(set(FOUR) - set(TWO))


def test_projection_remove_takes_an_absent_value_as_absent(db: Database) -> None:
    """A line is matched on every column, also the empty ones: a 3-value line never removes a 4-value one."""
    with db.tx("test") as t:
        projection.add(t.s, [("g", "a@x.nl", "active", AFNEMER), ("g", "a@x.nl", "active", OTHER)])
        t.audit("test.seed", "casbin_rule", None, None)
    with db.tx("test") as t:
        projection.remove(t.s, [("g", "a@x.nl", "active")])
        t.audit("test.remove", "casbin_rule", None, None)
    with db.read() as s:
        assert len(s.scalars(select(CasbinRule)).all()) == 2


# -- no client-supplied string reaches an engine ------------------------------------------------------------------

def _index(decider: Decider) -> dict[str, Any]:
    """A deep copy of every attribute of the decider (its whole index, whatever its layout), but the clock."""
    return copy.deepcopy({name: value for name, value in vars(decider).items() if name != "clock"})


def _random_word(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def test_unknown_names_are_refused_or_denied_and_never_stored(api: TestClient, world: World) -> None:
    world.org(AFNEMER, "Bakkerij De Korenschoof")
    world.product("verzuim")
    world.contract(AFNEMER, "verzuim")
    world.account("alice@korenschoof.nl", AFNEMER)
    world.grant("alice@korenschoof.nl", AFNEMER, ["verzuim"])
    sync(api)
    decider: Decider = api.app.state.authz.decider  # type: ignore[attr-defined]
    before = _index(decider)
    rng = random.Random(7)
    statuses: dict[int, int] = {}
    for i in range(200):
        user = f"{_random_word(rng, string.ascii_lowercase, 8)}@{_random_word(rng, string.ascii_lowercase, 5)}.nl"
        body: dict[str, Any] = {
            "user": user if i % 3 else "alice@korenschoof.nl",
            "product": "p" + _random_word(rng, string.ascii_lowercase + "-", 11) if i % 2 else "verzuim",
        }
        if i % 4 == 0:
            body["afnemer"] = _random_word(rng, string.digits, 8)
        for path in ("/v1/check", "/v1/explain"):
            r = api.post(path, json=body)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code == 200, r.text
            if "afnemer" in body and body["afnemer"] != AFNEMER:  # R13: a denial naming the unknown, not an error
                first_unknown = ("unknown_user" if body["user"] != "alice@korenschoof.nl" else
                                 "unknown_product" if body["product"] != "verzuim" else "unknown_afnemer")
                assert (r.json()["allowed"], r.json()["reason"]) == (False, first_unknown), r.text
            else:
                assert r.json()["allowed"] is (body["user"] == "alice@korenschoof.nl" and body["product"] == "verzuim")
        api.get(f"/v1/users/{user}/products")
        api.get(f"/v1/products/{body['product']}/users")
    assert statuses == {200: 400}
    assert _index(decider) == before


def test_explain_asks_the_engine_only_about_known_names(api: TestClient, world: World) -> None:
    world.org(AFNEMER, "Bakkerij De Korenschoof")
    world.product("verzuim")
    world.account("alice@korenschoof.nl", AFNEMER)
    sync(api)
    for body in ({"user": "nobody@korenschoof.nl", "product": "verzuim"},
                 {"user": "alice@korenschoof.nl", "product": "no-such-product"}):
        e = api.post("/v1/explain", json=body).json()
        assert e["chain"] == [] and e["reference"]["agrees"] is True


# -- the static permission lines and R2 ----------------------------------------------------------------------------

def _actions(role: str) -> set[str]:
    return {line[2] for line in policy.static_lines() if line[0] == "p2" and line[1] == role}


def test_policy_conf_and_the_permission_lines_load() -> None:
    lines = policy.static_lines()
    assert lines and all(line[0] == "p2" and len(line) == 3 for line in lines)
    assert _actions("beheerder") and _actions("operator")
    assert not _actions("beheerder") & _actions("operator")
    enforcer = policy.new_enforcer()
    assert sorted(map(tuple, enforcer.get_model().get_policy("p", "p2"))) == sorted(line[1:] for line in lines)


def test_permitted_answers_r2() -> None:
    every = _actions("beheerder") | _actions("operator")
    beheerder = policy.account_lines("b@korenschoof.nl", AFNEMER, "active", ["beheerder"])
    inactive = policy.account_lines("c@korenschoof.nl", AFNEMER, "inactive", ["beheerder"])
    user = policy.account_lines("u@korenschoof.nl", AFNEMER, "active")
    operator = policy.account_lines("op@gegevensdiensten.nl", None, "active", ["operator"])
    for action in sorted(every):
        # A beheerder of O acts on O only, and only with the beheerder's permissions.
        assert policy.permitted(beheerder, "b@korenschoof.nl", AFNEMER, action) is (action in _actions("beheerder"))
        assert policy.permitted(beheerder, "b@korenschoof.nl", OTHER, action) is False
        assert policy.permitted(beheerder, "b@korenschoof.nl", policy.OPERATOR_SCOPE, action) is False
        # An inactive beheerder, and a user without the role, may do nothing.
        assert policy.permitted(inactive, "c@korenschoof.nl", AFNEMER, action) is False
        assert policy.permitted(user, "u@korenschoof.nl", AFNEMER, action) is False
        # The operator acts in "*" with the operator's permissions, and in an organisation with those of its care
        # for organisations alone (R18: "operator:org"), never a beheerder's others (grants, requests).
        assert policy.permitted(operator, "op@gegevensdiensten.nl", policy.OPERATOR_SCOPE, action) is (
            action in _actions("operator"))
        assert policy.permitted(operator, "op@gegevensdiensten.nl", AFNEMER, action) is (
            action in _actions("operator:org"))
    # The operator's care is a part of the beheerder's permissions, and an inactive operator has none of it.
    assert _actions("operator:org") < _actions("beheerder") and "grants.edit" not in _actions("operator:org")
    retired = policy.account_lines("old@gegevensdiensten.nl", None, "inactive", ["operator"])
    assert not any(policy.permitted(retired, "old@gegevensdiensten.nl", AFNEMER, a) for a in _actions("operator:org"))
    # Someone else's lines give nothing: the engine is built from the actor's own lines.
    assert policy.permitted(beheerder, "x@korenschoof.nl", AFNEMER, "grants.edit") is False

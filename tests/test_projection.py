"""casbin_rule stays equal to the lines derived from the domain tables, through every kind of store change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from authz import policy
from authz.store import accounts, catalogue, grants, projection, rules
from authz.store.db import Database, Tx
from authz.store.schema import Account
from tests.factories import World

A, B, C = "11111111", "22222222", "33333333"


def assert_in_step(db: Database) -> None:
    with db.read() as s:
        stored, derived = rules.stored_lines(s), rules.derived_lines(s)
    assert stored == derived, f"only in casbin_rule: {set(stored) - set(derived)}; " \
                              f"missing from it: {set(derived) - set(stored)}"
    # What Casbin's adapter reads is the same set again.
    assert sorted(rules.all_lines(db)) == derived


def _account(t: Tx, email: str) -> Account:
    return accounts.get(t, email)


STEPS: list[tuple[str, Callable[[Tx], object]]] = [
    ("org", lambda t: catalogue.create_org(t, A, "Bakkerij")),
    ("org", lambda t: catalogue.create_org(t, B, "Salarisbureau")),
    ("org", lambda t: catalogue.create_org(t, C, "Garage")),
    ("product", lambda t: catalogue.create_product(t, "pa", "PA")),
    ("product", lambda t: catalogue.create_product(t, "pb", "PB")),
    ("contract", lambda t: catalogue.put_contract(t, A, "pa", date(2026, 1, 1), None)),
    ("contract dates", lambda t: catalogue.put_contract(t, A, "pa", date(2026, 2, 1), date(2026, 12, 31))),
    ("contract", lambda t: catalogue.put_contract(t, A, "pb", date(2026, 1, 1), None)),
    ("contract", lambda t: catalogue.put_contract(t, C, "pa", date(2026, 1, 1), None)),
    ("mandate subset", lambda t: catalogue.put_mandate(t, A, B, ["pa"], date(2026, 1, 1), None)),
    ("mandate all", lambda t: catalogue.put_mandate(t, A, B, None, date(2026, 1, 1), None)),
    ("mandate both", lambda t: catalogue.put_mandate(t, A, B, ["pb", "pa"], date(2026, 3, 1), date(2026, 9, 1))),
    ("mandate none", lambda t: catalogue.put_mandate(t, C, B, [], date(2026, 1, 1), None)),
    ("account", lambda t: accounts.create(t, "Alice@A.nl", A, "x", "active", role_set={"beheerder"})),
    ("account", lambda t: accounts.create(t, "bob@b.nl", B, "x", "approved")),
    ("account", lambda t: accounts.create(t, "op@gd.nl", None, "x", "active", role_set={"operator"})),
    ("activate", lambda t: accounts.set_status(t, _account(t, "bob@b.nl"), "active")),
    ("grants", lambda t: grants.replace(t, _account(t, "alice@a.nl"), A, {"pa", "pb"}, None)),
    ("grants", lambda t: grants.replace(t, _account(t, "bob@b.nl"), A, {"pa", "pb"}, None)),
    ("grants", lambda t: grants.replace(t, _account(t, "bob@b.nl"), C, {"pa"}, None)),
    ("grants less", lambda t: grants.replace(t, _account(t, "bob@b.nl"), A, {"pb"}, None)),
    ("role", lambda t: accounts.set_role(t, _account(t, "bob@b.nl"), "beheerder", True)),
    ("deactivate", lambda t: accounts.set_status(t, _account(t, "alice@a.nl"), "inactive")),
    ("role off", lambda t: accounts.set_role(t, _account(t, "alice@a.nl"), "beheerder", False)),
    ("reactivate", lambda t: accounts.set_status(t, _account(t, "alice@a.nl"), "active")),
    ("end contract", lambda t: catalogue.end_contract(t, A, "pb")),
    ("end mandate", lambda t: catalogue.end_mandate(t, A, B)),
    ("grants none", lambda t: grants.replace(t, _account(t, "bob@b.nl"), C, set(), None)),
    ("contract again", lambda t: catalogue.put_contract(t, A, "pb", date(2026, 6, 1), None)),
    ("mandate from none to one", lambda t: catalogue.put_mandate(t, C, B, ["pa"], date(2026, 1, 1), None)),
]


def test_casbin_rule_follows_every_store_change(db: Database) -> None:
    assert_in_step(db)
    for name, step in STEPS:
        with db.tx("test") as t:
            step(t)
        try:
            assert_in_step(db)
        except AssertionError as exc:
            raise AssertionError(f"after step '{name}': {exc}") from None
    with db.read() as s:
        lines = rules.stored_lines(s)
    # The series left something of every kind behind, so the comparison above compared something.
    assert {line[0] for line in lines} == {"p", "g", "g2", "g3"}


def test_a_failed_change_leaves_casbin_rule_as_it_was(db: Database, world: World) -> None:
    world.org(A)
    world.product("pa")
    world.contract(A, "pa")
    with pytest.raises(RuntimeError), db.tx("test") as t:
        catalogue.put_contract(t, A, "pa", date(2027, 1, 1), None)
        raise RuntimeError("the action fails after the projection was written")
    assert_in_step(db)
    with db.read() as s:
        assert ("g2", A, f"{A}/pa", "2026-01-01..") in rules.stored_lines(s)


def test_the_comparison_notices_a_stray_line(db: Database, world: World) -> None:
    world.org(A)
    world.product("pa")
    world.account("alice@a.nl", A)
    with db.tx("test") as t:
        projection.add(t.s, [policy.grant_line("alice@a.nl", A, "pa")])
        t.audit("test.tamper", "casbin_rule", None, None)
    with pytest.raises(AssertionError, match="only in casbin_rule"):
        assert_in_step(db)

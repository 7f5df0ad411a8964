"""The store's promises, on SQLite and PostgreSQL: one transaction per action, revisions in commit order, an
append-only audit trail (R12), and casbin_rule kept in step."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from authz.errors import Conflict
from authz.events import ContractPut
from authz.store import catalogue
from authz.store.db import Database
from authz.store.schema import Audit, CasbinRule, Change, Contract, Outbox
from tests.factories import World


def count(db: Database, table: type) -> int:
    with db.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_every_change_bumps_the_revision_with_its_audit_and_events(db: Database, world: World) -> None:
    assert db.revision() == 0
    world.org("11111111", "Bakkerij")
    world.product("polis")
    world.contract("11111111", "polis", date(2026, 1, 1), date(2026, 12, 31))
    assert db.revision() == 3
    changes = db.changes_since(0)
    assert [r for r, _ in changes] == [1, 2, 3]
    assert changes[2][1] == [ContractPut("11111111", "polis", date(2026, 1, 1), date(2026, 12, 31))]
    with db.engine.connect() as c:
        rows = c.execute(sa.select(Audit.action, Audit.actor, Audit.on_behalf_of, Audit.revision, Audit.after)
                         .order_by(Audit.id)).all()
    assert [(a, actor, org, rev) for a, actor, org, rev, _ in rows] == [
        ("organisation.create", "test", "11111111", 1), ("product.create", "test", None, 2),
        ("contract.put", "test", "11111111", 3)]
    assert rows[2][4]["valid_until"] == "2026-12-31"


def test_a_failed_action_leaves_nothing_behind(db: Database, world: World) -> None:
    world.org("11111111")
    world.product("polis")
    before = (db.revision(), count(db, Audit), count(db, Change), count(db, CasbinRule), count(db, Contract))

    class Boom(Exception):
        pass

    with pytest.raises(Boom), db.tx("test") as t:
        catalogue.put_contract(t, "11111111", "polis", date(2026, 1, 1), None)
        t.mail("a@b.nl", "onderwerp", "tekst", "<p>tekst</p>")
        raise Boom
    assert (db.revision(), count(db, Audit), count(db, Change), count(db, CasbinRule), count(db, Contract)) == before
    assert count(db, Outbox) == 0


def test_a_unique_violation_is_a_conflict_and_changes_nothing(db: Database, world: World) -> None:
    world.org("11111111")
    revision = db.revision()
    with pytest.raises(Conflict), db.tx("test") as t:
        catalogue.create_org(t, "11111111", "Dubbel")
    assert db.revision() == revision


@pytest.mark.parametrize("statement", ["UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"])
def test_the_audit_trail_is_append_only(db: Database, world: World, statement: str) -> None:
    world.org("11111111")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as c:
        c.execute(sa.text(statement))
    assert count(db, Audit) == 1


def test_concurrent_writers_get_consecutive_revisions_in_commit_order(db: Database, world: World) -> None:
    world.product("polis")
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            world.org(f"{10000000 + i}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    revisions = [r for r, _ in db.changes_since(0)]
    assert revisions == list(range(1, 22))
    assert db.revision() == 21


def test_casbin_rule_follows_contracts_and_mandates(db: Database, world: World) -> None:
    world.org("11111111")
    world.org("22222222")
    world.product("polis")
    world.product("verzuim")
    world.contract("11111111", "polis", date(2026, 1, 1), None)
    world.mandate("11111111", "22222222", ["polis", "verzuim"], date(2026, 2, 1), date(2026, 12, 31))
    world.contract("11111111", "polis", date(2026, 1, 1), date(2026, 6, 30))  # changed: the old line goes
    world.mandate("11111111", "22222222", None, date(2026, 2, 1), None)

    def lines() -> set[tuple[str | None, ...]]:
        with db.engine.connect() as c:
            return {tuple(r) for r in c.execute(sa.select(CasbinRule.ptype, CasbinRule.v0, CasbinRule.v1,
                                                          CasbinRule.v2))}

    assert lines() == {("g2", "11111111", "11111111/polis", "2026-01-01..2026-06-30"),
                       ("g3", "22222222", "11111111/*", "2026-02-01..")}
    with db.tx("test") as t:
        catalogue.end_mandate(t, "11111111", "22222222")
        catalogue.end_contract(t, "11111111", "polis")
    assert lines() == set()

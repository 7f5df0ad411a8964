"""Policy files: deterministic export, export → import into an empty database → the same bytes, idempotent import,
and ``--at`` rebuilt from the audit trail equal to the export taken at that moment. SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authz import cli
from authz.clock import FrozenClock
from authz.errors import AuthzError
from authz.policyfile.export import export_yaml
from authz.policyfile.importer import NO_PASSWORD, import_file
from authz.store import accounts, catalogue, grants
from authz.store.db import Database, Tx
from authz.store.schema import Account, Audit, CasbinRule, Grant
from tests.conftest import _empty_pg
from tests.factories import PASSWORD, World, password_hash

BAKKERIJ, SALARIS, GARAGE = "11111111", "22222222", "03333333"
BEHEERDER, ALICE, BOB, NOOR = "beheerder@korenschoof.nl", "alice@korenschoof.nl", "bob@salaris.nl", "noor@salaris.nl"


def build(world: World) -> None:
    world.org(BAKKERIJ, "Bakkerij: De 'Korenschoof'", ["korenschoof.nl"])
    world.org(SALARIS, "Salarisbureau Noord")
    world.org(GARAGE, "Garage Van Dijk", status="pending")
    for code in ("polisadministratie", "verzuim", "loonaangifte"):
        world.product(code)
    world.contract(BAKKERIJ, "polisadministratie")
    world.contract(BAKKERIJ, "verzuim", valid_until=date(2026, 12, 31))
    world.mandate(BAKKERIJ, SALARIS, ["polisadministratie"], valid_until=date(2026, 12, 31))
    world.beheerder(BEHEERDER, BAKKERIJ)
    world.account(ALICE, BAKKERIJ, name="Alice Bakker")
    world.beheerder(BOB, SALARIS)
    world.account(NOOR, SALARIS, status="approved")
    world.operator()
    world.grant(ALICE, BAKKERIJ, ["polisadministratie", "verzuim"], by=BEHEERDER)
    world.grant(BOB, BAKKERIJ, ["polisadministratie"], by=BOB)


def wipe(db: Database, request: pytest.FixtureRequest) -> None:
    """Empty the database under ``db`` (a fresh migration), keeping the same URL."""
    db.dispose()
    if db.is_sqlite:
        shutil.copy(request.getfixturevalue("sqlite_template"), db.url.removeprefix("sqlite:///"))
    else:
        _empty_pg(db.url)


def casbin_lines(db: Database) -> list[tuple[str | None, ...]]:
    with db.engine.connect() as c:
        return sorted(tuple(r) for r in c.execute(sa.select(CasbinRule.ptype, CasbinRule.v0, CasbinRule.v1,
                                                             CasbinRule.v2, CasbinRule.v3)))


def test_export_is_deterministic_readable_and_holds_no_secrets(world: World, db: Database) -> None:
    build(world)
    text = export_yaml(db)
    assert text == export_yaml(db)
    assert "- {kvk: '03333333', name: Garage Van Dijk, status: pending, domains: []}" in text
    assert ("- {afnemer: '11111111', product: verzuim, granted_by: beheerder@korenschoof.nl, "
            "granted_at: '2026-06-15T10:00:00Z'}") in text
    assert "argon2" not in text and "password" not in text
    assert text.index(ALICE) < text.index(BEHEERDER) < text.index(BOB)  # sorted


def test_export_of_one_org_holds_its_part(world: World, db: Database) -> None:
    build(world)
    text = export_yaml(db, org=SALARIS)
    assert "scope: '22222222'" in text
    assert BOB in text and NOOR in text and ALICE not in text and "operator@" not in text
    assert "loonaangifte" not in text  # no contract, mandate or grant of SALARIS names it
    assert "product: polisadministratie, valid_from" in text  # the contract its users' grant rests on


def test_round_trip_into_an_empty_database_gives_the_same_bytes(world: World, db: Database,
                                                                 request: pytest.FixtureRequest) -> None:
    build(world)
    before, lines = export_yaml(db), casbin_lines(db)
    wipe(db, request)
    outcome = import_file(db, "policy.yaml", text=before)
    assert outcome.revision is not None and outcome.plan
    assert export_yaml(db) == before
    assert casbin_lines(db) == lines  # the Casbin view kept in step by the store functions
    with db.read() as s:
        actors = set(s.scalars(sa.select(Audit.actor)))
        hashes = set(s.scalars(sa.select(Account.password_hash)))
        provenance = s.execute(sa.select(Grant.granted_by, Grant.granted_at)).all()
    assert actors == {"import:policy.yaml"}
    assert hashes == {NO_PASSWORD}
    assert {(by, at.astimezone(UTC)) for by, at in provenance} == {
        (BEHEERDER, datetime(2026, 6, 15, 10, tzinfo=UTC)), (BOB, datetime(2026, 6, 15, 10, tzinfo=UTC))}


def test_imported_account_cannot_log_in_until_reset(world: World, db: Database,
                                                    request: pytest.FixtureRequest) -> None:
    from authz.passwords import verify

    build(world)
    text = export_yaml(db)
    wipe(db, request)
    import_file(db, "p.yaml", text=text)
    with db.tx("test") as t:
        stored = accounts.get(t, ALICE).password_hash
    assert not verify(stored, PASSWORD) and not verify(stored, "") and not verify(stored, NO_PASSWORD)


def test_second_import_changes_nothing(world: World, db: Database) -> None:
    build(world)
    text = export_yaml(db).replace("valid_until: '2026-12-31'}", "valid_until: '2027-06-30'}")
    first = import_file(db, "p.yaml", text=text)
    assert first.plan == ["~ contract 11111111/verzuim 2026-01-01..2027-06-30",
                          "~ mandate 11111111 -> 22222222 (polisadministratie) 2026-01-01..2027-06-30"]
    revision = db.revision()
    second = import_file(db, "p.yaml", text=text)
    assert second.plan == [] and second.revision is None
    assert db.revision() == revision
    assert export_yaml(db) == text


def test_dry_run_shows_the_plan_and_changes_nothing(world: World, db: Database) -> None:
    build(world)
    text = export_yaml(db)
    changed = text.replace("  roles: []\n  grants:\n  - {afnemer: '11111111', product: polisadministratie, "
                           "granted_by: beheerder@korenschoof.nl",
                           "  roles: []\n  grants:\n  - {afnemer: '11111111', product: loonaangifte, "
                           "granted_by: beheerder@korenschoof.nl", 1)
    changed = changed.replace("contracts:\n", "contracts:\n- {afnemer: '11111111', product: loonaangifte, "
                                              "valid_from: '2026-01-01', valid_until: null}\n", 1)
    revision = db.revision()
    outcome = import_file(db, "p.yaml", text=changed, dry_run=True)
    assert outcome.plan == ["+ contract 11111111/loonaangifte 2026-01-01..open",
                            "~ grants of alice@korenschoof.nl for 11111111: +loonaangifte (by beheerder@korenschoof.nl"
                            ", 2026-06-15T10:00:00Z), -polisadministratie"]
    assert outcome.revision is None and db.revision() == revision and export_yaml(db) == text
    applied = import_file(db, "p.yaml", text=changed)
    assert applied.plan == outcome.plan and applied.revision == revision + 1
    assert export_yaml(db) == changed


def test_cli_export_import_round_trip(world: World, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest) -> None:
    build(world)
    monkeypatch.setenv("AUTHZ_DATABASE_URL", db.url)
    out = tmp_path / "policy.yaml"
    assert cli.main(["policy", "export", "-o", str(out)]) == 0
    assert cli.main(["policy", "export"]) == 0
    assert capsys.readouterr().out == out.read_text(encoding="utf-8")
    wipe(db, request)
    assert cli.main(["policy", "import", str(out), "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert cli.main(["policy", "import", str(out)]) == 0
    assert "imported" in capsys.readouterr().out
    assert cli.main(["policy", "import", str(out)]) == 0
    assert capsys.readouterr().out == "no changes\n"
    assert cli.main(["policy", "export"]) == 0
    assert capsys.readouterr().out == out.read_text(encoding="utf-8")
    assert cli.main(["policy", "export", "--org", "123"]) == 2


def test_at_a_date_is_the_state_as_that_day_closed(world: World, db: Database, clock: FrozenClock,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    build(world)
    then = export_yaml(db)
    clock.advance(days=1)
    world.grant(ALICE, BAKKERIJ, [], by=BEHEERDER)
    assert export_yaml(db) != then
    monkeypatch.setenv("AUTHZ_DATABASE_URL", db.url)
    assert cli.main(["policy", "export", "--at", "2026-06-15"]) == 0
    assert capsys.readouterr().out == then
    assert cli.main(["policy", "export", "--at", "2026-06-15T09:59:59Z"]) == 0
    assert "organisations: []" in capsys.readouterr().out  # before anything existed


# -- --at against a recorded sequence of random changes (property-based) -----------------------------------------

KVKS = (BAKKERIJ, SALARIS, GARAGE)
CODES = ("polisadministratie", "verzuim", "loonaangifte")
PEOPLE = (BEHEERDER, ALICE, BOB, NOOR)
DAYS = st.dates(date(2025, 6, 1), date(2027, 6, 1))

changes = st.one_of(
    st.tuples(st.just("contract"), st.sampled_from(KVKS), st.sampled_from(CODES), DAYS, st.none() | DAYS),
    st.tuples(st.just("end_contract"), st.sampled_from(KVKS), st.sampled_from(CODES)),
    st.tuples(st.just("mandate"), st.sampled_from(KVKS), st.sampled_from(KVKS),
              st.none() | st.lists(st.sampled_from(CODES), unique=True), DAYS),
    st.tuples(st.just("end_mandate"), st.sampled_from(KVKS), st.sampled_from(KVKS)),
    st.tuples(st.just("status"), st.sampled_from(PEOPLE), st.sampled_from(("approved", "active", "inactive"))),
    st.tuples(st.just("role"), st.sampled_from(PEOPLE), st.booleans()),
    st.tuples(st.just("grants"), st.sampled_from(PEOPLE), st.sampled_from(KVKS),
              st.lists(st.sampled_from(CODES), unique=True)),
    st.tuples(st.just("verify"), st.sampled_from(KVKS)),
    st.tuples(st.just("account"), st.sampled_from(KVKS), st.integers(0, 5)),
)


def _apply(t: Tx, change: tuple[Any, ...]) -> None:
    kind, *a = change
    if kind == "contract":
        start, end = a[2], a[3]
        catalogue.put_contract(t, a[0], a[1], start, end if end is None or end >= start else start)
    elif kind == "end_contract":
        catalogue.end_contract(t, a[0], a[1])
    elif kind == "mandate":
        catalogue.put_mandate(t, a[0], a[1], a[2], a[3], None)
    elif kind == "end_mandate":
        catalogue.end_mandate(t, a[0], a[1])
    elif kind == "status":
        accounts.set_status(t, accounts.get(t, a[0]), a[1])
    elif kind == "role":
        accounts.set_role(t, accounts.get(t, a[0]), "beheerder", a[1])
    elif kind == "grants":
        grants.replace(t, accounts.get(t, a[0]), a[1], set(a[2]), None)
    elif kind == "verify":
        catalogue.verify_org(t, a[0], "Geverifieerd")
    elif kind == "account":
        accounts.create(t, f"user{a[1]}-{a[0]}@example.nl", a[0], password_hash(), "approved")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(changes, min_size=1, max_size=12))
def test_at_each_moment_equals_the_export_taken_then(db: Database, clock: FrozenClock,
                                                     sequence: list[tuple[Any, ...]]) -> None:
    with db.read() as s:
        fresh = s.scalar(sa.select(sa.func.count()).select_from(Account)) == 0
    if fresh:
        build(World(db, actor="builder"))
    recorded = [(clock.now(), export_yaml(db), export_yaml(db, org=SALARIS))]
    for change in sequence:
        clock.advance(minutes=7)
        try:
            with db.tx(actor=f"actor-{change[0]}") as t:
                _apply(t, change)
        except AuthzError:
            pass  # refused (e.g. ending what does not exist): nothing changed
        recorded.append((clock.now(), export_yaml(db), export_yaml(db, org=SALARIS)))
    for at, whole, part in recorded:
        assert export_yaml(db, at=at) == whole, at
        assert export_yaml(db, org=SALARIS, at=at) == part, at

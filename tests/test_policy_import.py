"""Bad policy files: each kind of error names the file and line, and nothing is imported. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from authz import cli
from authz.policyfile.export import export_yaml
from authz.policyfile.importer import import_file
from authz.policyfile.parse import PolicyFileError
from authz.store.db import Database
from tests.factories import World
from tests.test_policy_export import build

HEAD = "format: 1\nscope: all\n"
ORGS = ("organisations:\n"
        "- {kvk: '11111111', name: Bakkerij, status: verified, domains: []}\n"  # line 4
        "- {kvk: '22222222', name: Salaris, status: verified, domains: []}\n"  # line 5
        "products:\n"
        "- {code: polis, name: Polis, description: ''}\n")  # line 7
GOOD = (HEAD + ORGS +
        "contracts:\n"
        "- {afnemer: '11111111', product: polis, valid_from: '2026-01-01', valid_until: null}\n"  # line 9
        "mandates: []\n"
        "accounts:\n"
        "- email: b@bakkerij.nl\n"  # line 12
        "  org: '11111111'\n"
        "  status: active\n"
        "  roles: [beheerder]\n"
        "  grants:\n"
        "  - {afnemer: '11111111', product: polis}\n")  # line 17


def problems(db: Database, text: str) -> list[tuple[int, str]]:
    before = (db.revision(), export_yaml(db))
    with pytest.raises(PolicyFileError) as caught:
        import_file(db, "bad.yaml", text=text)
    assert (db.revision(), export_yaml(db)) == before  # nothing imported
    assert all(p.path == "bad.yaml" for p in caught.value.problems)
    return [(p.line, p.message) for p in caught.value.problems]


def test_a_good_file_imports_and_stamps_grants_without_provenance(db: Database) -> None:
    outcome = import_file(db, "good.yaml", text=GOOD)
    assert outcome.plan[-1] == ("~ grants of b@bakkerij.nl for 11111111: +polis (by import:good.yaml, "
                                "2026-06-15T10:00:00Z)")
    assert "granted_by: 'import:good.yaml'" in export_yaml(db)


@pytest.mark.parametrize(("text", "line", "message"), [
    (HEAD + "organisations: [\n  {kvk: '1'\n", 5, "malformed YAML"),
    ("- just a list\n", 1, "a policy file is a mapping"),
    (HEAD + "organisation: []\n", 1, "unknown key(s) in the file: organisation"),
    (GOOD.replace("status: verified, domains: []}\n- {kvk: '22", "colour: red}\n- {kvk: '22"), 4,
     "unknown key(s) in organisation: colour"),
    (GOOD + "- email: b@bakkerij.nl\n  org: '11111111'\n  status: active\n", 18, "duplicate account b@bakkerij.nl "
                                                                                 "(first on line 12)"),
    (GOOD.replace("'22222222'", "'11111111'"), 5, "duplicate organisation 11111111 (first on line 4)"),
    (GOOD.replace("  org: '11111111'\n  status", "  org: '11111111'\n  org: '11111111'\n  status"), 14,
     "duplicate key 'org'"),
    (GOOD.replace("{afnemer: '11111111', product: polis, valid_from", "{afnemer: '33333333', product: polis, "
                                                                       "valid_from"), 9,
     "unknown organisation 33333333 ('afnemer')"),
    (GOOD.replace("  - {afnemer: '11111111', product: polis}", "  - {afnemer: '11111111', product: verzuim}"), 17,
     "unknown product 'verzuim' ('product')"),
    (GOOD.replace("valid_from: '2026-01-01', valid_until: null", "valid_from: '2026-13-01', valid_until: null"), 9,
     "'valid_from' must be an ISO day"),
    (GOOD.replace("valid_until: null}", "valid_until: '2025-01-01'}"), 9, "'valid_until' lies before 'valid_from'"),
    (GOOD.replace("kvk: '11111111', name: Bakkerij", "kvk: '1111111', name: Bakkerij"), 4,
     "'kvk' must be a KvK number of 8 digits"),
    (GOOD.replace("status: active", "status: sleeping"), 12, "'status' must be one of approved, active, inactive"),
    (GOOD.replace("roles: [beheerder]", "roles: [operator]"), 12, "role 'operator' is not possible here"),
    (GOOD.replace("- {afnemer: '11111111', product: polis, valid_from: '2026-01-01', valid_until: null}\n", ""), 16,
     "R2: afnemer 11111111 has no contract for 'polis'"),
    (GOOD.replace("  org: '11111111'", "  org: '22222222'").replace("roles: [beheerder]", "roles: [beheerder]"), 17,
     "R2: 22222222 (b@bakkerij.nl's organisation) holds no mandate from 11111111 covering 'polis'"),
    (GOOD.replace("roles: [beheerder]", "roles: []"), 4, "R4: organisation 11111111 has accounts but no active "
                                                          "beheerder"),
    (GOOD.replace("  status: active\n  roles: [beheerder]", "  status: inactive\n  roles: [beheerder]"), 4,
     "R4: organisation 11111111 has accounts but no active beheerder"),
    (GOOD.replace("  - {afnemer: '11111111', product: polis}", "  - {afnemer: '11111111', product: polis, "
                                                               "granted_at: yesterday}"), 17,
     "'granted_at' must be an ISO instant"),
    (GOOD.replace("mandates: []", "mandates:\n- {afnemer: '11111111', intermediair: '11111111', "
                                  "valid_from: '2026-01-01'}"), 11, "an organisation needs no mandate from itself"),
    (GOOD.replace("scope: all", "scope: '22222222'"), 9, "contract outside the file's scope 22222222"),
])
def test_bad_file_names_line_and_reason_and_imports_nothing(db: Database, text: str, line: int,
                                                            message: str) -> None:
    found = problems(db, text)
    assert any(at == line and message in why for at, why in found), found


def test_every_problem_is_reported_at_once(db: Database) -> None:
    text = GOOD.replace("status: sleeping", "").replace("status: active", "status: sleeping").replace(
        "product: polis}", "product: verzuim}").replace("'2026-01-01'", "'2026-02-30'")
    assert [line for line, _ in problems(db, text)] == [9, 12, 17]


def test_import_refuses_what_it_does_not_do(world: World, db: Database) -> None:
    build(world)
    text = export_yaml(db)
    renamed = text.replace("name: Salarisbureau Noord", "name: Salarisbureau Zuid")
    assert problems(db, renamed) == [(9, "organisation 22222222 differs from the database ('Salarisbureau Noord', "
                                         "verified, []); import only creates and verifies organisations")]
    without_noor = text.replace("- email: noor@salaris.nl\n  name: ''\n  org: '22222222'\n  status: approved\n"
                                "  roles: []\n  grants: []\n", "")
    assert problems(db, without_noor)[0][1].startswith("account noor@salaris.nl is missing from the file")


def test_an_inert_grant_already_held_may_stay(world: World, db: Database) -> None:
    """R1: a grant whose contract ended is kept until a beheerder removes it; re-importing the export keeps it."""
    build(world)
    world.grant("noor@salaris.nl", "11111111", ["polisadministratie"], by="bob@salaris.nl")
    with db.tx("operator") as t:
        from authz.store import catalogue

        catalogue.end_mandate(t, "11111111", "22222222")
    assert import_file(db, "p.yaml", text=export_yaml(db)).plan == []


def test_pending_organisation_is_verified_by_import(world: World, db: Database) -> None:
    build(world)
    text = export_yaml(db).replace("name: Garage Van Dijk, status: pending", "name: Garage Van Dijk, status: verified")
    assert import_file(db, "p.yaml", text=text).plan == ["~ organisation 03333333: pending -> verified"]
    assert export_yaml(db) == text


def test_cli_import_reports_file_and_line(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTHZ_DATABASE_URL", db.url)
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("roles: [beheerder]", "roles: []"), encoding="utf-8")
    assert cli.main(["policy", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4: R4: organisation 11111111 has accounts but no active beheerder" in err
    assert "nothing imported" in err
    assert db.revision() == 0
    assert cli.main(["policy", "import", str(tmp_path / "missing.yaml")]) == 2

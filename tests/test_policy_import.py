"""Importing policy files: each kind of error names the file and line, and nothing is imported; a scoped file keeps
to its scope and R4 holds after the import; an import mails and ends sessions as the service layer does (R9).
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from authz import cli
from authz.cache.sessions import SqlSessions
from authz.config import Settings
from authz.passwords import verify
from authz.policyfile.export import export_yaml
from authz.policyfile.importer import NO_PASSWORD, import_file
from authz.policyfile.parse import PolicyFileError
from authz.store import accounts
from authz.store.db import Database
from authz.store.schema import Outbox
from tests.factories import PASSWORD, World
from tests.test_policy_export import ALICE, BAKKERIJ, BEHEERDER, BOB, GARAGE, NOOR, SALARIS, build

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
    # R2 on the import's day (2026-06-15): a new grant needs a contract (and mandate) valid then.
    (GOOD.replace("valid_from: '2026-01-01', valid_until: null", "valid_from: '2026-07-01', valid_until: null"), 17,
     "R2: the contract of 11111111 for 'polis' is not valid on 2026-06-15"),
    (GOOD.replace("valid_until: null", "valid_until: '2026-06-14'"), 17,
     "R2: the contract of 11111111 for 'polis' is not valid on 2026-06-15"),
    (GOOD.replace("  org: '11111111'", "  org: '22222222'").replace(
        "mandates: []", "mandates:\n- {afnemer: '11111111', intermediair: '22222222', valid_from: '2026-01-01', "
                        "valid_until: '2026-06-01'}"), 18,
     "R2: the mandate from 11111111 to 22222222 is not valid on 2026-06-15"),

    # Free text by the API's parser (authz.values.text): a NUL crashed the import on PostgreSQL (DataError), a
    # forged line reached the database and the e-mails that quote the name.
    (GOOD.replace("name: Bakkerij,", 'name: "Nul\\0Org",'), 4, "'name' may not contain control characters"),
    (GOOD.replace("name: Bakkerij,", "name: '  ',"), 4, "'name' must be text of 1 to 200 characters"),
    (GOOD.replace("name: Bakkerij,", f"name: {'B' * 201},"), 4, "'name' must be text of 1 to 200 characters"),
    (GOOD.replace("domains: []}\n- {kvk: '22", 'domains: ["a\\0b.nl"]}\n- {kvk: \'22'), 4,
     "'domains' must be a list of e-mail domains"),
    (GOOD.replace("{code: polis, name: Polis,", '{code: polis, name: "Po\\Llis",'), 7,
     "'name' may not contain control characters, Unicode line separators"),
    (GOOD.replace("description: ''", 'description: "a\\0b"'), 7, "'description' may not contain control"),
    (GOOD.replace("description: ''", 'description: "a\\u202eb"'), 7, "'description' may not contain control"),
    (GOOD.replace("  status: active\n", '  name: "Jo\\ast\\r\\nBcc: x@y"\n  status: active\n'), 12,
     "'name' may not contain control characters"),
    (GOOD.replace("  status: active\n", '  name: "Jo\\Lst"\n  status: active\n'), 12,
     "'name' may not contain control characters"),
    (GOOD.replace("product: polis}\n", 'product: polis, granted_by: "b@b\\0.nl", '
                                        "granted_at: '2026-01-01T00:00:00Z'}\n"), 17,
     "'granted_by' may not contain control characters"),
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


def test_cli_import_refuses_a_nul_in_a_name_with_its_line(db: Database, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """On PostgreSQL the NUL reached the database: a DataError traceback and exit 1, with nothing said of where."""
    monkeypatch.setenv("AUTHZ_DATABASE_URL", db.url)
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("name: Bakkerij,", 'name: "Nul\\0Org",'), encoding="utf-8")
    assert cli.main(["policy", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4: 'name' may not contain control characters" in err and "Traceback" not in err
    assert "nothing imported" in err
    assert db.revision() == 0


# -- a scoped file, R4 after the import ------------------------------------------------------------------------

def test_a_scoped_file_changes_no_account_of_another_organisation(world: World, db: Database) -> None:
    """Bob (beheerder of Salaris) is in Bakkerij's file as the holder of Bakkerij's grant: that file may not
    deactivate him or take his role, which would leave Salaris without an active beheerder (R4)."""
    build(world)
    text = export_yaml(db, org=BAKKERIJ)
    bob = "- email: bob@salaris.nl\n  name: ''\n  org: '22222222'\n  status: active\n  roles: [beheerder]\n"
    assert bob in text
    line = text[:text.index(bob)].count("\n") + 1
    found = problems(db, text.replace(bob, bob.replace("active", "inactive").replace("[beheerder]", "[]")))
    org_line = next(i for i, t in enumerate(text.splitlines(), 1) if "kvk: '22222222'" in t)
    assert (line, f"account {BOB} belongs to {SALARIS}, outside the file's scope {BAKKERIJ}; a scoped file creates "
                  f"no such account and changes neither its status nor its roles") in found
    assert (org_line, f"R4: organisation {SALARIS} has accounts but no active beheerder") in found
    # Also a new account of another organisation, and a role given to one, are outside the scope.
    new = text + "- email: new@salaris.nl\n  org: '22222222'\n  status: active\n  roles: [beheerder]\n"
    assert any("account new@salaris.nl belongs to 22222222, outside" in why for _, why in problems(db, new))
    assert import_file(db, "p.yaml", text=text).plan == []  # the export itself still imports as is


def test_r4_is_checked_on_the_state_after_the_import(world: World, db: Database) -> None:
    """The file alone keeps R4 for its scope, but verifying Garage (which has an account and no beheerder) would
    leave a verified organisation without an active beheerder in the database."""
    build(world)
    world.account("piet@garage.nl", GARAGE)
    text = export_yaml(db, org=BAKKERIJ).replace(
        "organisations:\n", "organisations:\n- {kvk: '03333333', name: Garage Van Dijk, status: verified, "
                            "domains: []}\n", 1)
    line = text.splitlines().index("- {kvk: '03333333', name: Garage Van Dijk, status: verified, domains: []}") + 1
    assert problems(db, text) == [(line, f"R4: organisation {GARAGE} has accounts but no active beheerder")]
    world.beheerder("baas@garage.nl", GARAGE)
    assert import_file(db, "p.yaml", text=text).plan == [f"~ organisation {GARAGE}: pending -> verified"]


def test_an_import_activates_no_approved_account(world: World, db: Database) -> None:
    """R8: an approved account becomes active only through its activation link, never by an import."""
    build(world)
    world.account("nieuw@bakkerij.nl", BAKKERIJ, status="approved")
    text = export_yaml(db, org=BAKKERIJ)
    entry = f"- email: nieuw@bakkerij.nl\n  name: ''\n  org: '{BAKKERIJ}'\n  status: approved\n"
    assert entry in text
    line = text[:text.index(entry)].count("\n") + 1
    assert problems(db, text.replace(entry, entry.replace("approved", "active"))) == [
        (line, "account nieuw@bakkerij.nl is approved but not activated; only the activation link activates it (R8), "
               "an import does not")]


# -- R9: e-mails and sessions as the service layer does them -------------------------------------------------------

def outbox(db: Database) -> list[tuple[str, str, str]]:
    with db.read() as s:
        return [(o.to_addr, o.subject, o.body_text) for o in s.scalars(sa.select(Outbox).order_by(Outbox.id))]


def test_import_mails_grant_changes_and_deactivations_and_ends_sessions(
        world: World, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(world)
    settings = Settings(database_url=db.url)
    store = SqlSessions(db, settings.session_idle_seconds, settings.session_absolute_seconds)
    with db.tx("test") as t:
        alice_id, bob_id = accounts.get(t, ALICE).id, accounts.get(t, BOB).id
    alice_session, bob_session = store.create(alice_id, db.clock.now()), store.create(bob_id, db.clock.now())
    text = export_yaml(db)
    alice = (f"- email: {ALICE}\n  name: Alice Bakker\n  org: '11111111'\n  status: active\n  roles: []\n"
             f"  grants:\n  - {{afnemer: '11111111', product: polisadministratie, granted_by: {BEHEERDER}, "
             f"granted_at: '2026-06-15T10:00:00Z'}}\n")
    assert alice in text
    verzuim = (f"  - {{afnemer: '11111111', product: verzuim, granted_by: {BEHEERDER}, "
               f"granted_at: '2026-06-15T10:00:00Z'}}\n")
    assert alice + verzuim in text
    changed = text.replace(alice + verzuim, alice.replace("status: active", "status: inactive"))
    changed += ("- email: nieuw@korenschoof.nl\n  org: '11111111'\n  status: active\n  grants:\n"
                "  - {afnemer: '11111111', product: verzuim}\n")
    path = tmp_path / "p.yaml"
    path.write_text(changed, encoding="utf-8")
    monkeypatch.setenv("AUTHZ_DATABASE_URL", db.url)
    monkeypatch.delenv("AUTHZ_REDIS_URL", raising=False)
    monkeypatch.delenv("AUTHZ_SESSION_STORE", raising=False)
    assert cli.main(["policy", "import", str(path), "--dry-run"]) == 0
    assert outbox(db) == []
    assert cli.main(["policy", "import", str(path)]) == 0
    mails = outbox(db)
    assert sorted((to, subject) for to, subject, _ in mails) == [
        (ALICE, "Uw account bij Bakkerij: De 'Korenschoof' op Mijn Gegevensdiensten is gedeactiveerd"),
        (ALICE, "Uw toegangsrechten op Mijn Gegevensdiensten zijn gewijzigd"),
        ("nieuw@korenschoof.nl", "Uw toegangsrechten op Mijn Gegevensdiensten zijn gewijzigd")]
    grants_mail = next(body for to, subject, body in mails if to == ALICE and "toegangsrechten" in subject)
    assert "Verwijderd" in grants_mail and "Toegevoegd" not in grants_mail
    assert "- Verzuim" in grants_mail and "(verzuim)" not in grants_mail  # the product by name
    # the operator's import is told as Gegevensdiensten, not as "import:p.yaml, beheerder van …"
    assert "Gegevensdiensten heeft uw toegangsrechten" in grants_mail and "import:" not in grants_mail
    deactivated = next(body for to, subject, body in mails if to == ALICE and "gedeactiveerd" in subject)
    assert "Gegevensdiensten heeft uw account bij" in deactivated and "import:" not in deactivated
    # The deactivated account's sessions ended after the commit; others' did not.
    assert store.resolve(alice_session, db.clock.now()) is None
    assert store.resolve(bob_session, db.clock.now()) is not None
    # A new account imported as active got no activation link: it must reset its password first (R8's proof).
    with db.tx("test") as t:
        new = accounts.get(t, "nieuw@korenschoof.nl")
        assert (new.status, new.password_hash) == ("active", NO_PASSWORD)
    assert not verify(NO_PASSWORD, PASSWORD) and not verify(NO_PASSWORD, "")
    assert NOOR not in {to for to, _, _ in mails}

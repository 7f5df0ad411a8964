"""``authz policy lint`` (each kind of finding, severities, exit codes, JSON) and ``authz policy diff`` (the impact
of crafted changes, evaluated by the decider)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from authz import cli
from authz.clock import FrozenClock
from authz.policyfile.diff import impact
from authz.policyfile.lint import lint
from authz.policyfile.parse import parse
from authz.store.db import Database
from tests.factories import World

TODAY = date(2026, 6, 15)
A, INTER, C = "11111111", "22222222", "33333333"


def lint_world(world: World, clock: FrozenClock) -> None:
    world.org(A, "Bakkerij")
    world.org(INTER, "Salaris")
    world.org(C, "Garage")
    for code in ("polis", "verzuim", "oud", "loon"):
        world.product(code)
    world.contract(A, "polis")
    world.contract(A, "verzuim", valid_until=TODAY + timedelta(days=30))  # ending within 30 days
    world.contract(A, "oud", valid_until=TODAY - timedelta(days=1))  # lapsed
    world.contract(A, "loon", valid_until=TODAY + timedelta(days=31))  # not yet ending
    world.mandate(A, INTER, ["polis"], valid_until=TODAY + timedelta(days=10))
    world.beheerder("b1@bakkerij.nl", A)
    world.beheerder("b2@bakkerij.nl", A)
    world.account("alice@bakkerij.nl", A)
    world.account("gone@bakkerij.nl", A, status="inactive")
    world.beheerder("bob@salaris.nl", INTER)
    world.account("chef@garage.nl", C)  # C: accounts, no beheerder
    world.grant("alice@bakkerij.nl", A, ["polis", "oud"])
    world.grant("gone@bakkerij.nl", A, ["polis"])
    world.grant("bob@salaris.nl", A, ["polis", "verzuim"])  # verzuim: the mandate does not cover it
    clock.advance(days=-22)
    world.account("late@bakkerij.nl", A, status="approved")
    clock.advance(days=1)
    world.account("recent@bakkerij.nl", A, status="approved")
    clock.advance(days=21)


def test_lint_finds_each_kind(world: World, db: Database, clock: FrozenClock) -> None:
    lint_world(world, clock)
    found = {(f.kind, f.severity, f.subject) for f in lint(db, TODAY)}
    assert found == {
        ("no_beheerder", "error", f"organisation:{C}"),
        ("inert_grant", "warning", f"grant:alice@bakkerij.nl/{A}/oud"),
        ("inert_grant", "warning", f"grant:bob@salaris.nl/{A}/verzuim"),
        ("grant_to_inactive_account", "warning", f"grant:gone@bakkerij.nl/{A}/polis"),
        ("account_not_activated", "warning", "account:late@bakkerij.nl"),
        ("single_beheerder", "info", f"organisation:{INTER}"),
        ("contract_ending", "info", f"contract:{A}/verzuim"),
        ("mandate_ending", "info", f"mandate:{A}/{INTER}"),
    }
    assert lint(db, TODAY)[0].kind == "no_beheerder"  # the worst first
    later = {(f.kind, f.subject) for f in lint(db, TODAY + timedelta(days=11))}
    assert ("inert_grant", f"grant:bob@salaris.nl/{A}/polis") in later  # the mandate has lapsed by then


def test_lint_cli_exit_code_follows_severity(world: World, db: Database, clock: FrozenClock,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUTHZ_DATABASE_URL", db.url)
    world.org(A, "Bakkerij")
    world.beheerder("b1@bakkerij.nl", A)
    world.product("polis")
    world.contract(A, "polis", valid_until=TODAY + timedelta(days=5))
    assert cli.main(["policy", "lint", "--today", TODAY.isoformat()]) == 0  # info only
    assert "single_beheerder" in capsys.readouterr().out
    assert cli.main(["policy", "lint", "--today", TODAY.isoformat(), "--severity", "info", "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert {f["kind"] for f in findings} == {"single_beheerder", "contract_ending"}
    assert set(findings[0]) == {"kind", "severity", "subject", "message"}
    world.account("x@bakkerij.nl", A)
    world.grant("x@bakkerij.nl", A, ["polis"])
    world.set_status("x@bakkerij.nl", "inactive")
    assert cli.main(["policy", "lint", "--today", TODAY.isoformat()]) == 1  # a warning
    assert cli.main(["policy", "lint", "--today", TODAY.isoformat(), "--severity", "error"]) == 0


# -- diff -------------------------------------------------------------------------------------------------------

BASE = """\
organisations:
- {kvk: '11111111', name: Bakkerij}
- {kvk: '22222222', name: Salaris}
products:
- {code: polis, name: Polis}
- {code: verzuim, name: Verzuim}
contracts:
- {afnemer: '11111111', product: polis, valid_from: '2026-01-01', valid_until: null}
- {afnemer: '11111111', product: verzuim, valid_from: '2026-01-01', valid_until: null}
mandates:
- {afnemer: '11111111', intermediair: '22222222', products: null, valid_from: '2026-01-01', valid_until: null}
accounts:
- email: b@bakkerij.nl
  org: '11111111'
  status: active
  roles: [beheerder]
  grants:
  - {afnemer: '11111111', product: polis}
- email: bob@salaris.nl
  org: '22222222'
  status: active
  roles: [beheerder]
  grants:
  - {afnemer: '11111111', product: polis}
  - {afnemer: '11111111', product: verzuim}
"""


def changes(new: str, day: date = TODAY) -> set[tuple[str, str, str, str, str, str]]:
    out = impact(parse(BASE).state, parse(new).state, day)
    return {(i.user, i.afnemer, i.product, i.change, i.before, i.after) for i in out}


def test_diff_contract_ending_loses_everyone_holding_it() -> None:
    new = BASE.replace("product: polis, valid_from: '2026-01-01', valid_until: null",
                       "product: polis, valid_from: '2026-01-01', valid_until: '2026-05-31'")
    assert changes(new) == {("b@bakkerij.nl", A, "polis", "lost", "granted", "no_contract"),
                            ("bob@salaris.nl", A, "polis", "lost", "granted", "no_contract")}
    assert changes(new, date(2026, 5, 31)) == set()  # on a day the contract still held, nothing changes


def test_diff_mandate_narrowed_loses_the_intermediair_only_what_it_no_longer_covers() -> None:
    new = BASE.replace("products: null", "products: [polis]")
    assert changes(new) == {("bob@salaris.nl", A, "verzuim", "lost", "granted", "no_mandate")}


def test_diff_new_grant_and_deactivation() -> None:
    new = BASE.replace("  grants:\n  - {afnemer: '11111111', product: polis}\n- email: bob",
                       "  grants:\n  - {afnemer: '11111111', product: polis}\n"
                       "  - {afnemer: '11111111', product: verzuim}\n- email: bob")
    new = new.replace("- email: bob@salaris.nl\n  org: '22222222'\n  status: active",
                      "- email: bob@salaris.nl\n  org: '22222222'\n  status: inactive")
    assert changes(new) == {("b@bakkerij.nl", A, "verzuim", "gained", "no_grant", "granted"),
                            ("bob@salaris.nl", A, "polis", "lost", "granted", "inactive_user"),
                            ("bob@salaris.nl", A, "verzuim", "lost", "granted", "inactive_user")}


def test_diff_of_names_and_provenance_only_is_no_impact() -> None:
    new = BASE.replace("name: Salaris}", "name: Salarisbureau Noord}").replace(
        "  - {afnemer: '11111111', product: verzuim}",
        "  - {afnemer: '11111111', product: verzuim, granted_by: x@y.nl, granted_at: '2026-01-01T00:00:00Z'}")
    assert changes(new) == set()


def test_diff_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(BASE, encoding="utf-8")
    new.write_text(BASE.replace("products: null", "products: [polis]"), encoding="utf-8")
    assert cli.main(["policy", "diff", str(old), str(new), "--day", "2026-06-15"]) == 0
    out = capsys.readouterr().out
    assert "- bob@salaris.nl lost verzuim for 11111111 (granted -> no_mandate)" in out
    assert cli.main(["policy", "diff", str(old), str(new), "--day", "2026-06-15", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == [
        {"user": "bob@salaris.nl", "afnemer": A, "product": "verzuim", "change": "lost", "before": "granted",
         "after": "no_mandate"}]
    new.write_text("organisations: [\n", encoding="utf-8")
    assert cli.main(["policy", "diff", str(old), str(new)]) == 2
    assert f"{new}:2: malformed YAML" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["policy", "lint", "--today", "2026-13-01"], ["policy", "diff", "a.yaml", "b.yaml",
                                                                                "--day", "gisteren"]])
def test_a_bad_day_on_the_command_line_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "not an ISO day (YYYY-MM-DD)" in capsys.readouterr().err

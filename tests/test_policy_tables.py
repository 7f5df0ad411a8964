"""The decision tables (authz/policies/*_test.yaml): one case per row, each evaluated by Casbin and the decider."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import pytest

from authz import cli, decision_tables, policy_tools
from authz.decision_tables import Row, Table, TableError, load_table
from authz.policy_tools import evaluate, table_paths


@cache
def _table(path: Path) -> Table:
    return load_table(path)


def _cases() -> list[tuple[Path, int]]:
    cases: list[tuple[Path, int]] = []
    for path in table_paths():
        try:
            cases += [(path, i) for i in range(len(_table(path).rows))]
        except TableError:
            cases.append((path, -1))  # fails below with the complaint, instead of breaking the collection
    return cases


def _id(case: object) -> str:
    if isinstance(case, tuple):
        path, i = case
        if i < 0:
            return f"{path.stem}:malformed"
        row: Row = _table(path).rows[i]
        return f"{path.stem}:{row.kind}{row.number}"
    return str(case)


@pytest.mark.parametrize("case", _cases(), ids=_id)
def test_table_row(case: tuple[Path, int]) -> None:
    path, i = case
    table = _table(path)  # raises TableError, naming file and row, when the table is malformed
    outcome = evaluate(table, table.rows[i])
    assert outcome.ok, f"{path}: {table.rows[i].where}: {outcome.message}"


def test_the_tables_cover_every_reason_code() -> None:
    reasons = {row.values["reason"] for path in table_paths() for row in _table(path).rows if row.kind == "decision"}
    assert reasons == set(decision_tables.REASONS)
    kinds = {row.kind for path in table_paths() for row in _table(path).rows}
    assert kinds == {"decision", "permission"}


WRONG = """
day: 2026-06-15
world:
  organisations: [{kvk: "01234567", name: Nul Eerst}]
  products: [{code: polisadministratie}]
  contracts: [{afnemer: "01234567", product: polisadministratie, valid_from: 2026-01-01, valid_until: 2026-06-15}]
  accounts: [{email: anna@nuleerst.nl, org: "01234567"}]
  grants: [{user: anna@nuleerst.nl, afnemer: "01234567", products: [polisadministratie]}]
decisions:
  - {user: anna@nuleerst.nl, product: polisadministratie, allowed: true, reason: granted}
  - {user: anna@nuleerst.nl, product: polisadministratie, day: 2026-06-16, allowed: true, reason: granted}
permissions:
  - {user: anna@nuleerst.nl, scope: "01234567", action: grants.edit, allowed: true}
"""


def test_a_wrong_table_fails_and_names_the_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "wrong_test.yaml").write_text(WRONG, encoding="utf-8")
    assert cli.main(["policy", "test", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "wrong_test.yaml" in out
    # The last day of the contract counts (row 1 passes); the day after does not, and anna is no beheerder.
    assert "decision row 2 (line 11)" in out and "decision row 1 " not in out
    assert "permission row 1 (line 13)" in out
    assert "Casbin denied (no_contract); decider denied (no_contract)" in out
    # The shipped tables still pass beside it.
    assert "ok   " in out and "decisions_test.yaml" in out


def test_a_table_that_passes_exits_zero(tmp_path: Path) -> None:
    fixed = WRONG.replace("day: 2026-06-16, allowed: true, reason: granted",
                          "day: 2026-06-16, allowed: false, reason: no_contract")
    fixed = fixed.replace("action: grants.edit, allowed: true", "action: grants.edit, allowed: false")
    (tmp_path / "fixed_test.yaml").write_text(fixed, encoding="utf-8")
    out = io.StringIO()
    assert policy_tools.run(table_paths([tmp_path]), out) == 0, out.getvalue()
    assert "0 failed, 0 malformed" in out.getvalue()


@pytest.mark.parametrize(("text", "complaint"), [
    ("world: {}\ndecisions:\n  - {user: a@b.nl, product: px, allowed: yes, reason: granted}\n",
     "decision row 1 (line 3): missing field(s): day"),
    ("world: {organisations: [{kvk: 1234567}]}\n", "organisation 1 (line 1): 'kvk' must be a KvK number"),
    ("world: {}\ndecisions:\n  - {user: a@b.nl, product: px, day: 2026-13-01, allowed: true, reason: granted}\n",
     "decision row 1 (line 3): 'day' must be an ISO day"),
    ("world: {}\nday: 2026-01-01\ndecisions:\n  - {user: a@b.nl, product: px, allowed: true, reason: yes}\n",
     "decision row 1 (line 4): 'reason' must be one of"),
    ("world: {}\nday: 2026-01-01\ndecisions:\n  - {user: a@b.nl, product: px, allowed: true, reason: no_grant}\n",
     "'allowed: true' goes with 'reason: granted' only"),
    # (A decision row may ask about an afnemer outside the world: R13's unknown_afnemer. A fact may not.)
    ("world: {contracts: [{afnemer: '12345678', product: px, valid_from: 2026-01-01}]}\n",
     "organisation 12345678 is not in the world's organisations"),
    ("world: {}\npermissions:\n  - {user: a@b.nl, scope: '*', action: grants.delete, allowed: false}\n",
     "permission row 1 (line 3): 'action' must be one of"),
    ("world: {}\ndecision:\n  - {}\n", "top level: unknown field(s): decision"),
    ("world: [\n", "file: cannot be read as YAML"),
])
def test_a_malformed_table_is_refused_with_its_place(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "bad_test.yaml"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    assert policy_tools.run([path], out) == 2
    report = out.getvalue()
    assert f"MALFORMED {path}" in report
    for part in complaint.split(" ... "):
        assert part in report, report


def test_policy_test_refuses_a_missing_directory(tmp_path: Path) -> None:
    assert cli.main(["policy", "test", str(tmp_path / "nowhere")]) == 2

"""``authz policy …``: the decision tables, and the policy files (export, import, lint, diff: authz.policyfile).

``test``: the decision tables (``*_test.yaml``) run against policy.conf and against the decider.

Every row of a table (:mod:`authz.decision_tables`) is evaluated twice, by Casbin (:class:`authz.policy.Reference`
over the world's lines, made with the line functions of :mod:`authz.policy`) and by :class:`authz.decider.Decider`
(loaded from a Snapshot of the same world), and both must give the expected answer. No database is needed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

from authz import policy
from authz.cache.sessions import make_sessions
from authz.clock import Clock
from authz.config import Settings
from authz.decision_tables import Row, Table, TableError, load_table
from authz.policyfile.diff import impact
from authz.policyfile.export import export_yaml
from authz.policyfile.importer import import_file
from authz.policyfile.lint import lint
from authz.policyfile.parse import KVK_RE, PolicyFileError, parse
from authz.policyfile.review import moment
from authz.service.commit import announce_from_command
from authz.store.db import Database


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str


def _answer(allowed: bool, reason: str, afnemers: Iterable[str]) -> str:
    shown = list(afnemers)
    return f"{'allowed' if allowed else 'denied'} ({reason}){' ' + ', '.join(shown) if shown else ''}"


def evaluate(t: Table, row: Row) -> Outcome:
    """Evaluate one row with Casbin and with the decider; both must give the expected answer."""
    v = row.values
    if row.kind == "permission":
        by_model = t.reference.may(v["user"], v["scope"], v["action"])
        org, status, roles = t.accounts.get(v["user"], (None, "unknown", ()))
        # The API's path: an engine holding only the actor's own role lines.
        by_api = policy.permitted(policy.account_lines(v["user"], org, status, roles), v["user"], v["scope"],
                                  v["action"])
        question = f"{v['user']} does {v['action']} in {v['scope']}"
        ok = by_model == by_api == v["allowed"]
        return Outcome(ok, f"{question}: expected {'allowed' if v['allowed'] else 'denied'}; Casbin (all lines) "
                           f"{'allowed' if by_model else 'denied'}, Casbin (actor's lines) "
                           f"{'allowed' if by_api else 'denied'}")
    day: date = v["day"]
    account = t.accounts.get(v["user"])
    verdict = t.reference.decide(v["user"], v["product"], v["afnemer"], day,
                                 account=(account[0], account[1]) if account else None,
                                 product_known=v["product"] in t.products,
                                 afnemer_known=v["afnemer"] is None or v["afnemer"] in t.orgs)
    t.clock.set_day(day)
    decision = t.decider.check(v["user"], v["product"], v["afnemer"])
    expected = (v["allowed"], v["reason"])
    ok = ((verdict.allowed, verdict.reason) == expected == (decision.allowed, decision.reason.value)
          and (v["afnemers"] is None or v["afnemers"] == verdict.afnemers == decision.afnemers))
    question = (f"{v['user']} views {v['product']} for {v['afnemer'] or 'any afnemer'} on {day.isoformat()}")
    return Outcome(ok, f"{question}: expected {_answer(v['allowed'], v['reason'], v['afnemers'] or ())}; "
                       f"Casbin {_answer(verdict.allowed, verdict.reason, verdict.afnemers)}; "
                       f"decider {_answer(decision.allowed, decision.reason.value, decision.afnemers)}")


def table_paths(dirs: Iterable[str | Path] = ()) -> list[Path]:
    """Every ``*_test.yaml`` in authz/policies and in ``dirs`` (a file given by name counts too)."""
    found: list[Path] = []
    for d in [policy.POLICIES_DIR, *map(Path, dirs)]:
        found += [d] if d.is_file() else sorted(d.glob("*_test.yaml"))
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique)


def run(paths: Sequence[Path], out: TextIO) -> int:
    """Run the tables, print a readable report; 0 when every row passes, 1 on a failure, 2 on a malformed file."""
    failures = malformed = rows = 0
    for path in paths:
        try:
            table = load_table(path)
        except TableError as exc:
            print(f"MALFORMED {exc}", file=out)
            malformed += 1
            continue
        bad = [(row, outcome) for row in table.rows if not (outcome := evaluate(table, row)).ok]
        rows += len(table.rows)
        kinds = {k: sum(r.kind == k for r in table.rows) for k in ("decision", "permission")}
        status = "ok  " if not bad else "FAIL"
        print(f"{status} {path}: {kinds['decision']} decisions, {kinds['permission']} permissions, "
              f"{len(bad)} failed", file=out)
        for row, outcome in bad:
            print(f"     {row.where}: {outcome.message}", file=out)
        failures += len(bad)
    if not paths:
        print("no *_test.yaml tables found", file=out)
        return 2
    print(f"{len(paths)} table(s), {rows} row(s): {failures} failed, {malformed} malformed file(s)", file=out)
    return 2 if malformed else 1 if failures else 0


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    """``authz policy test [DIR…]``: every table in authz/policies and in the directories given."""
    logging.getLogger("casbin").setLevel(logging.WARNING)  # the engine logs its model at INFO on every build
    missing = [d for d in getattr(args, "dirs", []) or [] if not Path(d).exists()]
    if missing:
        print(f"no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    return run(table_paths(getattr(args, "dirs", []) or []), sys.stdout)


# -- export, import, lint, diff (authz.policyfile) --------------------------------------------------------------

def _database(settings: Settings) -> Database:
    return Database(settings.database_url)


def _day(value: date | None) -> date:
    return value if value is not None else Clock().today()


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """``authz policy export [--org KVK] [--at DATE|DATETIME] [-o FILE]``."""
    if args.org is not None and not KVK_RE.fullmatch(args.org):
        print(f"--org must be a KvK number of 8 digits, not {args.org!r}", file=sys.stderr)
        return 2
    at = moment(args.at, "--at")[0] if args.at else None
    db = _database(settings)
    try:
        text = export_yaml(db, args.org, at)
    finally:
        db.dispose()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """``authz policy import FILE [--dry-run]``: 0 when imported (or nothing to do), 1 when the file is refused."""
    if not Path(args.file).is_file():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    db = _database(settings)
    try:
        # No app runs here: the session store is built as the app builds it, to end a deactivated account's sessions.
        outcome = import_file(db, args.file, dry_run=args.dry_run, portal_url=settings.base_url,
                              sessions=make_sessions(settings, db))
    except PolicyFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{args.file}: refused, nothing imported ({len(exc.problems)} problem(s))", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    for line in outcome.plan:
        print(line)
    if not outcome.plan:
        print("no changes")
    elif args.dry_run:
        print(f"dry run: {len(outcome.plan)} change(s) shown, nothing imported")
    else:
        print(f"imported {len(outcome.plan)} change(s) at revision {outcome.revision}")
    if outcome.revision is not None:
        announce_from_command(settings, outcome.revision)
    return 0


def cmd_lint(args: argparse.Namespace, settings: Settings) -> int:
    """``authz policy lint [--severity S] [--json]``: 1 when a finding at or above S exists."""
    db = _database(settings)
    try:
        findings = lint(db, _day(args.today))
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({"findings": [f.as_dict() for f in findings]}, indent=2, ensure_ascii=False))
    else:
        for f in findings:
            print(f"{f.severity:<7} {f.kind:<25} {f.subject}: {f.message}")
        print(f"{len(findings)} finding(s)")
    return 1 if any(f.at_least(args.severity) for f in findings) else 0


def cmd_diff(args: argparse.Namespace, settings: Settings) -> int:
    """``authz policy diff OLD NEW [--day D] [--json]``: who gains or loses what (0), or a file refused (2)."""
    try:
        old, new = (parse(Path(p).read_text(encoding="utf-8"), p).state for p in (args.old, args.new))
    except PolicyFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    day = _day(args.day)
    changes = impact(old, new, day)
    if args.json:
        print(json.dumps({"day": day.isoformat(), "changes": [c.as_dict() for c in changes]}, indent=2))
    else:
        for c in changes:
            print(c)
        print(f"{len(changes)} change(s) of access on {day.isoformat()}")
    return 0

"""``make fuzz``: schemathesis over the served OpenAPI document, once per role, each on a world of its own.

A black-box run against a real ``authz serve`` process (PostgreSQL, loopback only): for each role a fresh,
migrated throwaway database with the demo world, a server on a free port with the default
``AUTHZ_MFA_REQUIRED=admins``, a session obtained by logging in (the beheerders and the operator with their demo
second factor, the code ``authz demo code`` prints) or the service key, and ``st run`` over ``/openapi.json`` with a
bounded number of examples per operation and phase, generated deterministically (every run sends the same cases).

Each role fuzzes the operations that are its work (``Role.operations``): the service client the decision API and
the public operations, the beheerder and the intermediair their organisation's (``/v1/orgs/{kvk}/…``) and the
beheerder and the operator their own session's, the operator its own and the organisation operations R18 lets it
do. Another role's operations would only answer 401 or 403 to every case; ``tests/test_tenant_isolation.py`` proves
those refusals for every operation and role. The path parameters are pinned to that role's own organisation and
accounts, so the operations do their work instead of answering 403 for a random KvK number. The state-changing
operations change only that role's world, which is thrown away afterwards; log-out is left out, since it would end
the very session the rest of the run uses.

It fails on any 5xx but a documented 503, on a status code, content type, header or body that the document does not
describe, on malformed data that is accepted and on the other checks of ``CHECKS``: nothing else. The run is
bounded by its examples and phases (about 2 minutes for the four roles); :data:`ROLE_SECONDS` is a backstop only: a
role still running then is stopped and judged by the cases it did run (their JUnit report), so a slow machine makes
a shorter run, not a failed one. Run it as ``python -m tests.fuzz.run [--examples N] [--role NAME]``; it prints each
role's summary and exits non-zero when any role failed. Why here and not under pytest: it drives an external tool
for minutes against a served process; the suite stays as fast as it was.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from authz import demo
from authz.api.openapi import Operation
from authz.app import all_routes
from authz.clock import Clock
from authz.config import Settings
from authz.store.db import Database
from authz.store.migrate import upgrade
from tests.factories import PG_ADMIN_URL
from tests.instances import Instance

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance,negative_data_rejection,positive_data_acceptance,ignored_auth,"
          "missing_required_header,unsupported_method")
# A backstop, not the bound: a role still running after this is stopped and judged by the cases it ran (a time
# budget reached is no failure by itself). The bound is the examples and phases: about 30 s a role here.
ROLE_SECONDS = int(os.environ.get("FUZZ_ROLE_SECONDS", "90"))
STOP_GRACE = 20  # seconds a stopped run has to write its report


def _session_own(op: Operation) -> bool:
    return op.auth == "session" and op.path.startswith("/v1/session") and op.operation_id != "logOut"


def _org_work(op: Operation) -> bool:
    return op.auth == "session" and op.path.startswith("/v1/orgs/{kvk}")


# R18: the organisation operations the operator does too (tests/test_tenant_isolation.py OPERATOR_MAY).
_OPERATOR_CARE = {"userHistory", "listUsers", "getUser", "listBeheerders", "appointBeheerder", "removeBeheerder",
                  "deactivateUser", "reactivateUser"}


@dataclass(frozen=True)
class Role:
    name: str
    login: str | None  # the demo account to log in as; None: the service client with the demo's key
    operations: Callable[[Operation], bool]  # the operations that are this role's work
    parameters: dict[str, str] = field(default_factory=dict)


_KORENSCHOOF = {"kvk": demo.KORENSCHOOF, "email": "joost.bakker@korenschoof.nl", "code": "polisadministratie",
                "afnemer_kvk": demo.KORENSCHOOF, "intermediair_kvk": demo.SALARIS_NOORD}
ROLES = (
    Role("service-client", None, lambda op: op.auth in ("key", "none"), _KORENSCHOOF),
    Role("beheerder", "anna.devries@korenschoof.nl", lambda op: _org_work(op) or _session_own(op), _KORENSCHOOF),
    Role("intermediair", "fatima.elamrani@salarisnoord.nl", _org_work,
         {**_KORENSCHOOF, "kvk": demo.SALARIS_NOORD, "email": "sanne.jansen@salarisnoord.nl"}),
    Role("operator", demo.OPERATOR,
         lambda op: op.path.startswith("/v1/operator/") or _session_own(op) or op.operation_id in _OPERATOR_CARE,
         _KORENSCHOOF),
)


def operation_ids(role: Role) -> list[str]:
    return [r.operation_id for r in all_routes() if isinstance(r, Operation) and role.operations(r)]


def _config(role: Role, credential: str) -> str:
    """The schemathesis.toml of one role: its credential for the document's security scheme (so that the checks
    know which requests carry it), pinned path parameters, and the statuses each check accepts."""
    params = "\n".join(f'"path.{name}" = "{value}"' for name, value in role.parameters.items())
    auth = (f'[auth.openapi.apiKey]\nbearer = "{credential}"' if role.login is None
            else f'[auth.openapi.session]\napi_key = "{credential}"')
    return f"""
# Nothing kept between runs: each run is the same, whatever an earlier one found.
[cache]
enabled = false

{auth}

[parameters]
{params}

[checks.not_a_server_error]
# A 503 is an answer the document describes (database unavailable, stale, throttle down); any other 5xx is a bug.
expected-statuses = ["2xx", "3xx", "4xx", "503"]

[checks.positive_data_acceptance]
# A request that the schema allows may still break a rule the schema cannot say (R2, R4, R10, a used token),
# or ask for a revision this instance cannot reach in time (a documented 503 'stale').
expected-statuses = ["2xx", "401", "403", "404", "409", "410", "422", "429", "503"]

[[operations]]
# The AuthZEN endpoints answer 400 where the rest answers 422 (the standard's status for a malformed request), and
# their schema is the standard's: any string is an id, but a user's must be an e-mail and a page token must be one
# this service gave out, which the document cannot say for a "type" chosen at run time.
include-tag = "authzen"

[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "503"]
"""


class World:
    """A throwaway PostgreSQL database with the demo world, and the settings the server is to run with (the demo is
    loaded with the same ones); dropped by :meth:`drop`."""

    def __init__(self, workdir: Path, role: str) -> None:
        self.name = f"authz_fuzz_{uuid.uuid4().hex[:10]}"
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.url = sa.engine.make_url(PG_ADMIN_URL).set(database=self.name).render_as_string(hide_password=False)
        # The default second-factor policy (admins): the demo enrols its beheerders and operator, and the run logs
        # them in with their current code, as a newcomer does with `authz demo code`.
        self.env = {"AUTHZ_DATABASE_URL": self.url, "AUTHZ_SECRET_KEY": "fuzz", "AUTHZ_MFA_REQUIRED": "admins",
                    "AUTHZ_OUTBOX_DIR": str(workdir / f"outbox-{role}"), "AUTHZ_REDIS_URL": ""}
        self.settings = Settings.from_env(self.env)
        upgrade(self.url)
        db = Database(self.url)
        try:
            self.key = demo.load_demo(db, self.settings, io.StringIO()).key
        finally:
            db.dispose()

    def drop(self) -> None:
        with self.admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def log_in(server: Instance, world: World, email: str) -> str:
    """A session cookie of the demo account: with its current demo code when it has a second factor (R17)."""
    body = {"email": email, "password": demo.DEMO_PASSWORD}
    r = server.client.post("/v1/session", json=body)
    if r.status_code == 401 and r.json()["error"]["code"] == "mfa_required":
        r = server.client.post("/v1/session", json={**body, "otp": demo.demo_code(email, world.settings,
                                                                                   Clock().now())})
    r.raise_for_status()
    cookie: str = r.cookies["authz_session"]
    return cookie


@dataclass(frozen=True)
class Report:
    cases: int
    failed: int  # test cases with a failure or an error


def read_report(path: Path) -> Report | None:
    """What the JUnit report of a run says; None when there is none (the run never got as far)."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - the report our own run just wrote
    except (OSError, ET.ParseError):
        return None
    cases = root.iter("testcase")
    counted = [(c.find("failure") is not None or c.find("error") is not None) for c in cases]
    return Report(len(counted), sum(counted))


def judge(returncode: int, stopped: bool, report: Report | None) -> tuple[bool, str]:
    """Whether a role's run passed, and how to say it. A run that ended by itself is its exit status; one stopped at
    its time budget is what it tested until then: a failed case fails it, the budget alone does not."""
    if not stopped:
        return returncode == 0, "passed" if returncode == 0 else "FAILED"
    budget = f"stopped at its time budget ({ROLE_SECONDS} s)"
    if report is None:
        return False, f"{budget} before it wrote a report: FAILED, nothing can be said of it"
    ok = report.failed == 0
    return ok, f"{budget} after {report.cases} operation(s), {report.failed} failed: {'passed' if ok else 'FAILED'}"


def run_role(role: Role, examples: int, workdir: Path) -> bool:
    world = World(workdir, role.name)
    server = Instance(world.env, f"fuzz-{role.name}")
    try:
        server.wait_ready()
        env_url = server.url
        credential = world.key if role.login is None else log_in(server, world, role.login)
        config = workdir / f"{role.name}.toml"
        config.write_text(_config(role, credential))
        report = workdir / f"{role.name}.xml"
        selected = [arg for op_id in operation_ids(role) for arg in ("--include-operation-id", op_id)]
        command = [str(Path(sys.executable).with_name("st")), "--config-file", str(config), "run",
                   f"{env_url}/openapi.json", "--url", env_url, *selected,
                   "--checks", CHECKS, "--generation-deterministic",  # the same cases every run: no seed, no database
                   "--max-examples", str(examples), "--workers", "1", "--no-color", "--request-timeout", "10",
                   "--phases", "examples,coverage,fuzzing",
                   "--report", "junit", "--report-junit-path", str(report)]
        print(f"== {role.name}: {len(selected) // 2} operations, {' '.join(command[1:5])} …", flush=True)
        started = time.monotonic()
        proc = subprocess.Popen(command)
        stopped = False
        try:
            returncode = proc.wait(timeout=ROLE_SECONDS)
        except subprocess.TimeoutExpired:  # the backstop: stop it as Ctrl+C would, so that it writes its report
            stopped = True
            proc.send_signal(signal.SIGINT)
            try:
                returncode = proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                returncode = proc.wait()
        ok, said = judge(returncode, stopped, read_report(report) if stopped else None)
        print(f"== {role.name}: {said} in {time.monotonic() - started:.0f} s (server log: {server.log})", flush=True)
        return ok
    finally:
        server.stop()
        world.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", "10")),
                        help="test cases per operation and phase (default 10)")
    parser.add_argument("--role", choices=[r.name for r in ROLES], action="append",
                        help="only this role (repeatable); default every role")
    args = parser.parse_args(argv)
    roles = [r for r in ROLES if args.role is None or r.name in args.role]
    with tempfile.TemporaryDirectory(prefix="authz-fuzz-") as tmp:
        results = {r.name: run_role(r, args.examples, Path(tmp)) for r in roles}
    failed = [name for name, ok in results.items() if not ok]
    print(f"fuzz: {len(results) - len(failed)} roles passed, {len(failed)} failed{': ' if failed else ''}"
          f"{', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

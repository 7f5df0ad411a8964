"""``make fuzz``: schemathesis over the served OpenAPI document, once per role, each on a world of its own.

A black-box run against a real ``authz serve`` process (PostgreSQL, loopback only): for each role a fresh,
migrated throwaway database with the demo world, a server on a free port, a session obtained by logging in (or the
service key), and ``st run`` over ``/openapi.json`` with a bounded number of examples per operation, generated
deterministically (every run sends the same cases). The path parameters are pinned to that role's own organisation
and accounts, so the operations do their work instead of answering 403 for a random KvK number
(``tests/test_tenant_isolation.py`` aims at foreign ones).
The state-changing operations change only that role's world, which is thrown away afterwards; log-out is left out
for the session roles, since it would end the very session the rest of the run uses.

It fails on any 5xx but a documented 503, on a status code, content type, header or body that the document does not
describe, on malformed data that is accepted and on the other checks of ``CHECKS``. Run it as
``python -m tests.fuzz.run [--examples N] [--role NAME]``; it prints each role's summary and exits non-zero when
any role failed. Why here and not under pytest: it drives an external tool for minutes against a served process,
with a time budget of its own; the suite stays as fast as it was.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from authz import demo
from authz.config import Settings
from authz.store.db import Database
from authz.store.migrate import upgrade
from tests.factories import PG_ADMIN_URL
from tests.instances import Instance

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance,negative_data_rejection,positive_data_acceptance,ignored_auth,"
          "missing_required_header,unsupported_method")
ROLE_SECONDS = 150  # a backstop: a role still running after this is stopped and counted as failed


@dataclass(frozen=True)
class Role:
    name: str
    login: str | None  # the demo account to log in as; None: the service client with the demo's key
    parameters: dict[str, str] = field(default_factory=dict)


_KORENSCHOOF = {"kvk": demo.KORENSCHOOF, "email": "joost.bakker@korenschoof.nl", "code": "polisadministratie",
                "afnemer_kvk": demo.KORENSCHOOF, "intermediair_kvk": demo.SALARIS_NOORD}
ROLES = (
    Role("service-client", None, _KORENSCHOOF),
    Role("beheerder", "anna.devries@korenschoof.nl", _KORENSCHOOF),
    Role("intermediair", "fatima.elamrani@salarisnoord.nl",
         {**_KORENSCHOOF, "kvk": demo.SALARIS_NOORD, "email": "sanne.jansen@salarisnoord.nl"}),
    Role("operator", demo.OPERATOR, _KORENSCHOOF),
)


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
        # No second factor: the run logs in with a password, as a script can (R17 has tests of its own).
        self.env = {"AUTHZ_DATABASE_URL": self.url, "AUTHZ_SECRET_KEY": "fuzz", "AUTHZ_MFA_REQUIRED": "none",
                    "AUTHZ_OUTBOX_DIR": str(workdir / f"outbox-{role}"), "AUTHZ_REDIS_URL": ""}
        upgrade(self.url)
        db = Database(self.url)
        try:
            self.key = demo.load_demo(db, Settings.from_env(self.env), io.StringIO()).key
        finally:
            db.dispose()

    def drop(self) -> None:
        with self.admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def run_role(role: Role, examples: int, workdir: Path) -> bool:
    world = World(workdir, role.name)
    server = Instance(world.env, f"fuzz-{role.name}")
    try:
        server.wait_ready()
        env_url = server.url
        excluded: list[str] = []
        credential = world.key
        if role.login is not None:
            r = server.client.post("/v1/session", json={"email": role.login, "password": demo.DEMO_PASSWORD})
            r.raise_for_status()
            credential = r.cookies["authz_session"]
            excluded = ["--exclude-operation-id", "logOut"]
        config = workdir / f"{role.name}.toml"
        config.write_text(_config(role, credential))
        command = [str(Path(sys.executable).with_name("st")), "--config-file", str(config), "run",
                   f"{env_url}/openapi.json", "--url", env_url, *excluded,
                   "--checks", CHECKS, "--generation-deterministic",  # the same cases every run: no seed, no database
                   "--max-examples", str(examples), "--workers", "1", "--no-color", "--request-timeout", "10",
                   "--phases", "examples,coverage,fuzzing",
                   "--report", "junit", "--report-junit-path", str(workdir / f"{role.name}.xml")]
        print(f"== {role.name}: {' '.join(command[1:5])} …", flush=True)
        started = time.monotonic()
        try:
            done = subprocess.run(command, timeout=ROLE_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            print(f"== {role.name}: stopped after {ROLE_SECONDS} s: FAILED", flush=True)
            return False
        ok = done.returncode == 0
        print(f"== {role.name}: {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s "
              f"(server log: {server.log})", flush=True)
        return ok
    finally:
        server.stop()
        world.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", "8")),
                        help="test cases per operation and phase (default 8)")
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

"""The ``make fuzz`` runner itself (tests/fuzz/run.py): every operation of the document is some role's work (a new
operation cannot escape the fuzzer), a role stopped at its time budget is judged by the cases it ran, not failed for
the budget alone, and the beheerder and operator log in with their demo second factor under the default
``AUTHZ_MFA_REQUIRED=admins``."""

from __future__ import annotations

from pathlib import Path

import pytest

from authz import demo
from authz.api.openapi import Operation
from authz.app import all_routes
from tests.fuzz import run
from tests.instances import Instance

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="schemathesis" tests="3">
<testcase name="GET /v1/session"/>
<testcase name="POST /v1/orgs/{{kvk}}/invitations">{first}</testcase>
<testcase name="GET /v1/orgs/{{kvk}}/users">{second}</testcase>
</testsuite></testsuites>
"""


def test_every_operation_is_fuzzed_by_a_role() -> None:
    ops = {r.operation_id for r in all_routes() if isinstance(r, Operation)}
    fuzzed = {op_id for role in run.ROLES for op_id in run.operation_ids(role)}
    assert ops - fuzzed == {"logOut"}  # it would end the run's own session
    assert {role.name for role in run.ROLES} == {"service-client", "beheerder", "intermediair", "operator"}


def test_a_run_stopped_at_its_budget_is_judged_by_its_cases(tmp_path: Path) -> None:
    clean, failed, errored = tmp_path / "clean.xml", tmp_path / "failed.xml", tmp_path / "errored.xml"
    clean.write_text(JUNIT.format(first="", second=""))
    failed.write_text(JUNIT.format(first='<failure message="Server error">500</failure>', second=""))
    errored.write_text(JUNIT.format(first="", second='<error message="boom"/>'))
    assert run.read_report(clean) == run.Report(3, 0)
    assert run.read_report(failed) == run.Report(3, 1)
    assert run.read_report(tmp_path / "missing.xml") is None
    # the budget alone is no failure (SIGINT's exit status included); a failed or erroring case is
    assert run.judge(130, True, run.read_report(clean))[0] is True
    assert run.judge(0, True, run.read_report(failed))[0] is False
    assert run.judge(0, True, run.read_report(errored))[0] is False
    assert run.judge(130, True, None)[0] is False  # stopped before any report: nothing can be said
    assert run.judge(0, False, None) == (True, "passed")
    assert run.judge(1, False, None) == (False, "FAILED")


@pytest.mark.parametrize("role", [r for r in run.ROLES if r.login is not None], ids=lambda r: r.name)
def test_each_session_role_logs_in_with_its_second_factor_and_can_work(tmp_path: Path, role: run.Role) -> None:
    world = run.World(tmp_path, role.name)
    server = Instance(world.env, f"fuzz-login-{role.name}")
    try:
        assert world.settings.mfa_required == "admins"
        server.wait_ready()
        r = server.client.post("/v1/session", json={"email": role.login, "password": demo.DEMO_PASSWORD})
        assert (r.status_code, r.json()["error"]["code"]) == (401, "mfa_required")  # enrolled, as the demo does
        cookie = run.log_in(server, world, str(role.login))
        path = "/v1/operator/products" if role.name == "operator" else f"/v1/orgs/{role.parameters['kvk']}/users"
        server.client.cookies.clear()
        r = server.client.get(path, headers={"Cookie": f"authz_session={cookie}"})
        assert r.status_code == 200, r.text  # not 403 mfa_enrolment_required: the run does the role's work
    finally:
        server.stop()
        world.drop()

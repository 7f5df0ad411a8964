"""The OpenID AuthZEN 1.0 certification scenario (openid/authzen, ``certification/authorization-api-1_0-scenario.md``)
as a table, translated to this service's world, on SQLite and PostgreSQL.

The scenario's fixture (alice, bob; record-1, record-2; read, write, delete) becomes users, products and afnemers:

========================  =====================================================================================
scenario                  here
========================  =====================================================================================
subject ``alice``         ``alice@korenschoof.nl``, of the afnemer Korenschoof, granted both products there
subject ``bob``           ``bob@salarisnoord.nl``, of an intermediair with a mandate for polisadministratie only
resource ``record-1``     ``polisadministratie`` (Korenschoof holds a contract)
resource ``record-2``     ``verzuim`` (Korenschoof holds a contract; bob's mandate does not cover it)
action ``read``           ``view``; ``write`` and ``delete`` become ``edit``, which this service never allows
properties                ``resource.properties.afnemer``: the afnemer a product is asked for
========================  =====================================================================================

Each row names the scenario's test it translates (``c-2-2-1`` is its section "Fixture request -- permit decision").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import sync
from tests.factories import World

KORENSCHOOF, SALARISNOORD, GARAGE = "11111111", "22222222", "33333333"
UNKNOWN_KVK = "99999999"
ALICE, BOB, DAVE, CAROL = ("alice@korenschoof.nl", "bob@salarisnoord.nl", "dave@korenschoof.nl",
                           "carol@korenschoof.nl")
NOBODY = "nobody@korenschoof.nl"
POLIS, VERZUIM = "polisadministratie", "verzuim"

EVALUATION, EVALUATIONS = "/access/v1/evaluation", "/access/v1/evaluations"
SUBJECTS, RESOURCES, ACTIONS = "/access/v1/search/subject", "/access/v1/search/resource", "/access/v1/search/action"


def build(world: World) -> None:
    world.org(KORENSCHOOF, "Bakkerij De Korenschoof")
    world.org(SALARISNOORD, "Salarisbureau Noord")
    world.org(GARAGE, "Garage Van Dijk")
    world.product(POLIS)
    world.product(VERZUIM)
    world.contract(KORENSCHOOF, POLIS)
    world.contract(KORENSCHOOF, VERZUIM)
    world.contract(GARAGE, VERZUIM)
    world.mandate(KORENSCHOOF, SALARISNOORD, [POLIS])
    world.account(ALICE, KORENSCHOOF)
    world.account(BOB, SALARISNOORD)
    world.account(DAVE, KORENSCHOOF)
    world.account(CAROL, KORENSCHOOF, status="inactive")
    world.grant(ALICE, KORENSCHOOF, [POLIS, VERZUIM])
    world.grant(BOB, KORENSCHOOF, [POLIS, VERZUIM])
    world.grant(DAVE, KORENSCHOOF, [POLIS])
    world.grant(CAROL, KORENSCHOOF, [POLIS])


def user(email: str | None = None, **properties: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "user"}
    if email is not None:
        out["id"] = email
    if properties:
        out["properties"] = properties
    return out


def product(code: str | None = None, afnemer: str | None = None, **properties: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "product"}
    if code is not None:
        out["id"] = code
    if afnemer is not None:
        properties["afnemer"] = afnemer
    if properties:
        out["properties"] = properties
    return out


VIEW, EDIT = {"name": "view"}, {"name": "edit"}
# The scenario's instants are in 2025; here context.time decides as of that instant (NLGov), and the test world
# begins at the test clock's 2026-06-15T10:00Z: the same kind of instants, on that day.
CONTEXT = {"time": "2026-06-15T03:03-07:00", "ip": "192.168.1.1"}


def ask(subject: Any = None, action: Any = None, resource: Any = None, **more: Any) -> dict[str, Any]:
    """A request body; members left None are left out."""
    body = {"subject": subject, "action": action, "resource": resource, **more}
    return {k: v for k, v in body.items() if v is not None}


@dataclass(frozen=True)
class Case:
    level: str  # Basic, Batch, Search (the scenario's certification levels; Discovery has tests of its own)
    ref: str  # the scenario's section
    path: str
    body: Any
    status: int = 200
    decision: bool | None = None  # a single Decision's
    decisions: list[bool] | None = None  # an evaluations answer's, in order
    results: list[str] | None = None  # a search's ids (or action names), in order
    error: str | None = None  # the code of a 400
    reason: str | None = None  # the single Decision's context.reason
    item_errors: list[int] = field(default_factory=list)  # items answered in place with context.error
    raw: bytes | None = None  # sent as is instead of ``body``
    content_type: str = "application/json"


CASES = [
    # -- Basic Core: c-2-2 request acceptance ----------------------------------------------------------------------
    Case("Basic", "c-2-2-1", EVALUATION, ask(user(ALICE), VIEW, product(POLIS)), decision=True, reason="granted"),
    Case("Basic", "c-2-2-2", EVALUATION, ask(user(BOB), VIEW, product(VERZUIM)), decision=False,
         reason="no_mandate"),
    Case("Basic", "c-2-2-2 (another action)", EVALUATION, ask(user(ALICE), EDIT, product(POLIS)), decision=False,
         reason="unsupported_action"),
    Case("Basic", "c-2-2-3", EVALUATION, ask(user(ALICE), VIEW, product(POLIS), context=CONTEXT), decision=True),
    Case("Basic", "c-2-2-8", EVALUATION, ask(user(ALICE, department="Sales", role="manager"),
                                             {"name": "view", "properties": {"method": "GET"}},
                                             product(POLIS, status="active", owner="bob")), decision=True),
    Case("Basic", "c-2-2-9", EVALUATION, ask(user(ALICE), VIEW, product(POLIS), foo="bar",
                                             futureField={"nested": True}), decision=True),
    Case("Basic", "c-2-2-9 (nested unknown fields)", EVALUATION,
         ask({**user(ALICE), "tenant": "x"}, {**VIEW, "verb": 1}, {**product(POLIS), "version": [1]}), decision=True),
    # R13: unknowns are denials with their reason, never errors.
    Case("Basic", "c-2-2 (unknown user)", EVALUATION, ask(user(NOBODY), VIEW, product(POLIS)), decision=False,
         reason="unknown_user"),
    Case("Basic", "c-2-2 (inactive user)", EVALUATION, ask(user(CAROL), VIEW, product(POLIS)), decision=False,
         reason="inactive_user"),
    Case("Basic", "c-2-2 (unknown product)", EVALUATION, ask(user(ALICE), VIEW, product("onbekend")),
         decision=False, reason="unknown_product"),
    Case("Basic", "c-2-2 (another subject type)", EVALUATION, ask({"type": "service", "id": ALICE}, VIEW,
                                                                  product(POLIS)),
         decision=False, reason="unknown_subject_type"),
    Case("Basic", "c-2-2 (another resource type)", EVALUATION, ask(user(ALICE), VIEW, {"type": "record",
                                                                                        "id": "record-1"}),
         decision=False, reason="unknown_resource_type"),
    # -- Basic Properties: the afnemer a product is asked for ------------------------------------------------------
    Case("Basic", "c-2-2-4", EVALUATION, ask(user(ALICE), VIEW, product(POLIS, afnemer=GARAGE)), decision=False,
         reason="no_grant"),
    Case("Basic", "c-2-2-5", EVALUATION, ask(user(BOB, role="admin"), VIEW, product(POLIS, afnemer=KORENSCHOOF)),
         decision=True, reason="granted"),
    Case("Basic", "c-2-2-6", EVALUATION, ask(user(ALICE), VIEW, product(VERZUIM, afnemer=KORENSCHOOF)),
         decision=True),
    Case("Basic", "c-2-2-7", EVALUATION, ask(user(ALICE), VIEW, product(VERZUIM, afnemer=UNKNOWN_KVK)),
         decision=False, reason="unknown_afnemer"),
    Case("Basic", "c-2-2-7 (afnemer null: any)", EVALUATION, ask(user(ALICE), VIEW, product(POLIS, afnemer=None,
                                                                                            x=None)),
         decision=True),
    # -- Basic: c-2-4 error handling -------------------------------------------------------------------------------
    Case("Basic", "c-2-4-1 (no subject)", EVALUATION, ask(None, VIEW, product(POLIS)), 400, error="missing_field"),
    Case("Basic", "c-2-4-1 (no action)", EVALUATION, ask(user(ALICE), None, product(POLIS)), 400,
         error="missing_field"),
    Case("Basic", "c-2-4-1 (no resource)", EVALUATION, ask(user(ALICE), VIEW), 400, error="missing_field"),
    Case("Basic", "c-2-4-2 (subject without type)", EVALUATION, ask({"id": ALICE}, VIEW, product(POLIS)), 400,
         error="missing_field"),
    Case("Basic", "c-2-4-2 (subject without id)", EVALUATION, ask(user(), VIEW, product(POLIS)), 400,
         error="missing_field"),
    Case("Basic", "c-2-4-2 (action without name)", EVALUATION, ask(user(ALICE), {}, product(POLIS)), 400,
         error="missing_field"),
    Case("Basic", "c-2-4-2 (resource without type)", EVALUATION, ask(user(ALICE), VIEW, {"id": POLIS}), 400,
         error="missing_field"),
    Case("Basic", "c-2-4-2 (resource without id)", EVALUATION, ask(user(ALICE), VIEW, product()), 400,
         error="missing_field"),
    Case("Basic", "c-2-4-3", EVALUATION, None, 400, error="unsupported_media_type", raw=b"subject=alice",
         content_type="application/x-www-form-urlencoded"),
    Case("Basic", "c-2-4-3 (text/plain)", EVALUATION, None, 400, error="unsupported_media_type",
         raw=b'{"subject": {}}', content_type="text/plain"),
    Case("Basic", "c-2-4-4", EVALUATION, None, 400, error="invalid_json", raw=b'{"subject": {"type": "user",'),
    Case("Basic", "c-2-4-5", EVALUATION, None, 400, error="invalid_json", raw=b""),
    Case("Basic", "c-2-4-5 (not an object)", EVALUATION, [ask(user(ALICE), VIEW, product(POLIS))], 400,
         error="invalid_body"),
    Case("Basic", "c-2-4-6 (subject a string)", EVALUATION, ask(ALICE, VIEW, product(POLIS)), 400,
         error="invalid_field"),
    Case("Basic", "c-2-4-6 (action.name a number)", EVALUATION, ask(user(ALICE), {"name": 123}, product(POLIS)),
         400, error="invalid_field"),
    Case("Basic", "c-2-4-6 (properties a list)", EVALUATION, ask(user(ALICE), VIEW, {**product(POLIS),
                                                                                     "properties": []}),
         400, error="invalid_field"),
    Case("Basic", "c-2-4-6 (context a string)", EVALUATION, ask(user(ALICE), VIEW, product(POLIS), context="now"),
         400, error="invalid_field"),
    # A malformed value of this service's own types is refused, as /v1/check refuses it (R13).
    Case("Basic", "c-2-4-6 (not an e-mail)", EVALUATION, ask(user("alice"), VIEW, product(POLIS)), 400,
         error="invalid_email"),
    Case("Basic", "c-2-4-6 (not a product code)", EVALUATION, ask(user(ALICE), VIEW, product("Record 1")), 400,
         error="invalid_product_code"),
    Case("Basic", "c-2-4-6 (not a KvK number)", EVALUATION, ask(user(ALICE), VIEW, product(POLIS, afnemer="1")),
         400, error="invalid_kvk"),
    # -- Batch Core: c-3-2, c-3-3, c-3-4 ---------------------------------------------------------------------------
    Case("Batch", "c-3-2-1", EVALUATIONS, ask(user(ALICE), VIEW, evaluations=[{"resource": product(POLIS)},
                                                                             {"resource": product(VERZUIM)}]),
         decisions=[True, True]),
    Case("Batch", "c-3-2-2", EVALUATIONS, ask(user(BOB), resource=product(POLIS), evaluations=[
        {"action": VIEW}, {"action": EDIT}]), decisions=[True, False]),
    Case("Batch", "c-3-2-5", EVALUATIONS, ask(evaluations=[ask(user(ALICE), VIEW, product(POLIS)),
                                                           ask(user(BOB), VIEW, product(VERZUIM))]),
         decisions=[True, False]),
    Case("Batch", "c-3-2-6", EVALUATIONS, ask(user(ALICE), VIEW, context={"time": "2026-06-15T03:03-07:00"},
                                              evaluations=[{"resource": product(POLIS)},
                                                           {"resource": product(VERZUIM), "context": {
                                                               "time": "2026-06-15T04:00-07:00",
                                                               "source": "batch-override"}}]),
         decisions=[True, True]),
    Case("Batch", "c-3-4-1", EVALUATIONS, ask(user(ALICE), VIEW, options={"evaluations_semantic": "execute_all"},
                                              evaluations=[{"resource": product(POLIS)}, {}]),
         decisions=[True, False], item_errors=[1]),
    Case("Batch", "c-3-4-1 (mistyped, not an object, malformed)", EVALUATIONS, ask(
        user(ALICE), VIEW, evaluations=[{"resource": "polis"}, 7, {"resource": product(POLIS)},
                                        {"subject": user("alice")}, {"resource": product(POLIS, afnemer="x")}]),
         decisions=[False, False, True, False, False], item_errors=[0, 1, 3, 4]),
    Case("Batch", "c-3-4-2", EVALUATIONS, ask(user(ALICE), VIEW, product(POLIS)), decision=True),
    Case("Batch", "c-3-4-3", EVALUATIONS, ask(user(ALICE), VIEW, product(POLIS), evaluations=[]), decision=True),
    Case("Batch", "c-3-4-3 (no evaluations, no subject)", EVALUATIONS, ask(None, VIEW, product(POLIS),
                                                                           evaluations=[]),
         400, error="missing_field"),
    # A top-level default may be partial (c-3-2-7 sends resource {"type": …}); an item it leaves incomplete is
    # answered in place. A default of the wrong JSON type is the whole payload's error.
    Case("Batch", "c-3-4 (an item left incomplete by a partial default)", EVALUATIONS, ask(
        user(), VIEW, evaluations=[{"resource": product(POLIS)}, {"subject": user(ALICE), "resource": product(POLIS)}]),
         decisions=[False, True], item_errors=[0]),
    Case("Batch", "c-3-4 (a top-level default mistyped)", EVALUATIONS, ask(
        {"type": "user", "id": 5}, VIEW, evaluations=[{"resource": product(POLIS)}]), 400, error="invalid_field"),
    Case("Batch", "c-3-4 (a top-level default not an object)", EVALUATIONS, ask(
        ALICE, VIEW, evaluations=[{"resource": product(POLIS)}]), 400, error="invalid_field"),
    Case("Batch", "c-3-4 (evaluations not a list)", EVALUATIONS, ask(user(ALICE), VIEW, product(POLIS),
                                                                     evaluations={}),
         400, error="invalid_field"),
    Case("Batch", "c-3-4 (an unknown semantic)", EVALUATIONS, ask(
        user(ALICE), VIEW, options={"evaluations_semantic": "some"}, evaluations=[{"resource": product(POLIS)}]),
         400, error="invalid_field"),
    Case("Batch", "c-3-4 (too many)", EVALUATIONS, ask(user(ALICE), VIEW, evaluations=[{"resource": product(POLIS)}]
                                                       * 1001), 400, error="batch_too_large"),
    # -- Batch Properties: per-item properties and whole-entity defaults -------------------------------------------
    Case("Batch", "c-3-2-3", EVALUATIONS, ask(user(BOB), VIEW, evaluations=[
        {"resource": product(POLIS, afnemer=KORENSCHOOF)}, {"resource": product(VERZUIM, afnemer=KORENSCHOOF)}]),
         decisions=[True, False]),
    Case("Batch", "c-3-2-4", EVALUATIONS, ask(action=VIEW, resource=product(VERZUIM, afnemer=KORENSCHOOF),
                                              evaluations=[{"subject": user(BOB)}, {"subject": user(ALICE)}]),
         decisions=[False, True]),
    # c-3-2-7, as the scenario states it: an item's entity replaces the default whole, except that a required
    # sub-field it lacks (type, id; an action's name) comes from the default. Its properties are never merged.
    Case("Batch", "c-3-2-7", EVALUATIONS, ask(user(ALICE), VIEW, {"type": "product"}, evaluations=[
        {"resource": {"id": POLIS, "properties": {"afnemer": KORENSCHOOF}}},
        {"resource": product(VERZUIM, afnemer=GARAGE)}]), decisions=[True, False]),
    Case("Batch", "c-3-2-7 (the default's properties are not merged in)", EVALUATIONS, ask(
        user(ALICE), VIEW, product(POLIS, afnemer=GARAGE), evaluations=[{"resource": {"id": VERZUIM}}, {}]),
         decisions=[True, False]),  # verzuim for any afnemer; the default whole: polis for the garage
    Case("Batch", "c-3-2-7 (the id from the default)", EVALUATIONS, ask(
        user(ALICE), VIEW, product(VERZUIM), evaluations=[{"resource": {"properties": {"afnemer": KORENSCHOOF}}},
                                                          {"resource": {"properties": {"afnemer": GARAGE}}}]),
         decisions=[True, False]),
    Case("Batch", "c-3-2-7 (subjects and actions alike)", EVALUATIONS, ask(
        {"type": "user", "properties": {"role": "admin"}}, {"name": "view", "properties": {"method": "GET"}},
        product(VERZUIM), evaluations=[{"subject": {"id": ALICE}}, {"subject": {"id": BOB}},
                                       {"subject": {"id": ALICE}, "action": {"properties": {"soft": True}}},
                                       {"subject": {"id": ALICE}, "action": {"name": "edit"}}]),
         decisions=[True, False, True, False]),
    Case("Batch", "c-3-2-7 (a member the item sends is its own, also mistyped)", EVALUATIONS, ask(
        user(ALICE), VIEW, product(POLIS), evaluations=[{"resource": {"id": 5}}, {"resource": {"type": None}}]),
         decisions=[False, False], item_errors=[0, 1]),
    # -- the short-circuit semantics (the standard's "Evaluations semantics") --------------------------------------
    Case("Batch", "deny_on_first_deny", EVALUATIONS, ask(
        user(BOB), VIEW, options={"evaluations_semantic": "deny_on_first_deny"},
        evaluations=[{"resource": product(POLIS)}, {"resource": product(VERZUIM)}, {"resource": product(POLIS)}]),
         decisions=[True, False]),
    Case("Batch", "deny_on_first_deny (an error is a denial)", EVALUATIONS, ask(
        user(BOB), VIEW, options={"evaluations_semantic": "deny_on_first_deny"},
        evaluations=[{}, {"resource": product(POLIS)}]), decisions=[False], item_errors=[0]),
    Case("Batch", "deny_on_first_deny (all permitted)", EVALUATIONS, ask(
        user(ALICE), VIEW, options={"evaluations_semantic": "deny_on_first_deny"},
        evaluations=[{"resource": product(POLIS)}, {"resource": product(VERZUIM)}]), decisions=[True, True]),
    Case("Batch", "permit_on_first_permit", EVALUATIONS, ask(
        user(BOB), VIEW, options={"evaluations_semantic": "permit_on_first_permit"},
        evaluations=[{"resource": product(VERZUIM)}, {"resource": product(POLIS)}, {"resource": product(POLIS)}]),
         decisions=[False, True]),
    Case("Batch", "permit_on_first_permit (none permitted)", EVALUATIONS, ask(
        user(BOB), VIEW, options={"evaluations_semantic": "permit_on_first_permit", "other": 1},
        evaluations=[{"resource": product(VERZUIM)}, {"resource": product("onbekend")}]), decisions=[False, False]),
    # -- Search Core: c-4-2 subjects, c-4-3 resources, c-4-4 actions -----------------------------------------------
    Case("Search", "c-4-2-1", SUBJECTS, ask(user(), VIEW, product(POLIS)), results=[ALICE, BOB, DAVE]),
    Case("Search", "c-4-2-2", SUBJECTS, ask(user(), VIEW, product(POLIS), context=CONTEXT),
         results=[ALICE, BOB, DAVE]),
    Case("Search", "c-4-2-3", SUBJECTS, ask(user(ALICE), VIEW, product(POLIS)), results=[ALICE, BOB, DAVE]),
    Case("Search", "c-4-2-3 (a mistyped id is ignored too)", SUBJECTS, ask({"type": "user", "id": 5}, VIEW,
                                                                           product(POLIS)),
         results=[ALICE, BOB, DAVE]),
    Case("Search", "c-4-3-1", RESOURCES, ask(user(ALICE), VIEW, product()), results=[POLIS, VERZUIM]),
    Case("Search", "c-4-3-2", RESOURCES, ask(user(ALICE), VIEW, product(), context=CONTEXT),
         results=[POLIS, VERZUIM]),
    Case("Search", "c-4-3-3", RESOURCES, ask(user(ALICE), VIEW, product(POLIS)), results=[POLIS, VERZUIM]),
    Case("Search", "c-4-3-3 (bob)", RESOURCES, ask(user(BOB), VIEW, product()), results=[POLIS]),
    Case("Search", "c-4-4-1", ACTIONS, ask(user(ALICE), resource=product(POLIS)), results=["view"]),
    Case("Search", "c-4-4-2", ACTIONS, ask(user(ALICE), resource=product(POLIS), context=CONTEXT),
         results=["view"]),
    Case("Search", "c-4-4-1 (denied)", ACTIONS, ask(user(BOB), resource=product(VERZUIM)), results=[]),
    Case("Search", "c-4-4-1 (an action sent is ignored)", ACTIONS, ask(user(ALICE), "edit", product(POLIS)),
         results=["view"]),
    Case("Search", "c-4-5-1", SUBJECTS, ask(user(), VIEW, product(POLIS), page={"limit": 1}), results=[ALICE]),
    # -- Search Properties: the afnemer --------------------------------------------------------------------------
    Case("Search", "c-4-2-4", SUBJECTS, ask(user(), VIEW, product(VERZUIM, afnemer=KORENSCHOOF)), results=[ALICE]),
    Case("Search", "c-4-2-4 (another afnemer)", SUBJECTS, ask(user(), VIEW, product(POLIS, afnemer=GARAGE)),
         results=[]),
    Case("Search", "c-4-3-4", RESOURCES, ask(user(BOB, role="admin"), VIEW, product(afnemer=KORENSCHOOF)),
         results=[POLIS]),
    Case("Search", "c-4-3-4 (another afnemer)", RESOURCES, ask(user(ALICE), VIEW, product(afnemer=GARAGE)),
         results=[]),
    Case("Search", "c-4-4-3", ACTIONS, ask(user(BOB), resource=product(POLIS, afnemer=KORENSCHOOF)),
         results=["view"]),
    # -- c-4-6 empty results: unknown entities and types, on all three ----------------------------------------------
    Case("Search", "c-4-6-1 (actions, unknown user)", ACTIONS, ask(user(NOBODY), resource=product(POLIS)),
         results=[]),
    Case("Search", "c-4-6-1 (subjects, unknown product)", SUBJECTS, ask(user(), VIEW, product("onbekend")),
         results=[]),
    Case("Search", "c-4-6-1 (subjects, unknown afnemer)", SUBJECTS, ask(user(), VIEW, product(POLIS, UNKNOWN_KVK)),
         results=[]),
    Case("Search", "c-4-6-1 (resources, unknown user)", RESOURCES, ask(user(NOBODY), VIEW, product()), results=[]),
    Case("Search", "c-4-6-1 (resources, inactive user)", RESOURCES, ask(user(CAROL), VIEW, product()), results=[]),
    Case("Search", "c-4-6-2 (subjects, unknown type)", SUBJECTS, ask({"type": "spaceship"}, VIEW, product(POLIS)),
         results=[]),
    Case("Search", "c-4-6-2 (subjects, another resource type)", SUBJECTS, ask(user(), VIEW, {"type": "record",
                                                                                             "id": "record-1"}),
         results=[]),
    Case("Search", "c-4-6-2 (resources, unknown type)", RESOURCES, ask(user(ALICE), VIEW, {"type": "record"}),
         results=[]),
    Case("Search", "c-4-6-2 (actions, unknown type)", ACTIONS, ask({"type": "group", "id": "x"},
                                                                   resource=product(POLIS)),
         results=[]),
    Case("Search", "c-4-6-2 (another action)", RESOURCES, ask(user(ALICE), EDIT, product()), results=[]),
    # -- c-4-7 search errors -----------------------------------------------------------------------------------------
    Case("Search", "c-4-7-1 (subjects, no action)", SUBJECTS, ask(user(), resource=product(POLIS)), 400,
         error="missing_field"),
    Case("Search", "c-4-7-1 (resources, no subject)", RESOURCES, ask(action=VIEW, resource=product()), 400,
         error="missing_field"),
    Case("Search", "c-4-7-1 (actions, no resource)", ACTIONS, ask(user(ALICE)), 400, error="missing_field"),
    Case("Search", "c-4-7-2 (subjects, resource without id)", SUBJECTS, ask(user(), VIEW, product()), 400,
         error="missing_field"),
    Case("Search", "c-4-7-2 (resources, subject without id)", RESOURCES, ask(user(), VIEW, product()), 400,
         error="missing_field"),
    Case("Search", "c-4-7-2 (actions, subject without id)", ACTIONS, ask(user(), resource=product(POLIS)), 400,
         error="missing_field"),
    Case("Search", "c-4-7 (a negative limit)", SUBJECTS, ask(user(), VIEW, product(POLIS), page={"limit": -1}),
         400, error="invalid_field"),
    Case("Search", "c-4-7 (a token not given out)", SUBJECTS, ask(user(), VIEW, product(POLIS),
                                                                  page={"token": "bm90IG91cnM"}),
         400, error="invalid_page_token"),
    Case("Search", "c-4-7 (not JSON)", RESOURCES, None, 400, error="unsupported_media_type", raw=b"{}",
         content_type="text/plain"),
]


def _id(case: Case) -> str:
    return f"{case.level}:{case.ref}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_certification_case(api: TestClient, world: World, case: Case) -> None:
    build(world)
    sync(api)
    if case.raw is not None:
        r = api.post(case.path, content=case.raw, headers={"Content-Type": case.content_type})
    else:
        r = api.post(case.path, json=case.body)
    assert r.status_code == case.status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    if case.error is not None:
        assert body["error"]["code"] == case.error and body["error"]["message"], body
        return
    if case.decision is not None:
        assert set(body) <= {"decision", "context"} and body["decision"] is case.decision, body
        if case.reason is not None:
            assert body["context"]["reason"] == case.reason, body
    if case.decisions is not None:
        assert set(body) == {"evaluations"}, body
        assert [e["decision"] for e in body["evaluations"]] == case.decisions, body
        errors = [i for i, e in enumerate(body["evaluations"]) if "error" in e.get("context", {})]
        assert errors == case.item_errors, body
        for i in errors:
            assert body["evaluations"][i]["context"]["error"]["status"] == 400
            assert body["evaluations"][i]["context"]["error"]["message"]
    if case.results is not None:
        assert body["page"]["count"] == len(body["results"]), body
        found = [e.get("id", e.get("name")) for e in body["results"]]
        assert found == case.results, body
        if case.path != ACTIONS:
            wanted = "user" if case.path == SUBJECTS else "product"
            assert all(set(e) == {"type", "id"} and e["type"] == wanted for e in body["results"]), body
        else:
            assert all(set(e) == {"name"} for e in body["results"]), body


def test_every_level_of_the_scenario_is_in_the_table() -> None:
    refs = {c.ref.split(" ")[0] for c in CASES}
    # The scenario's test ID matrix (Basic, Batch and Search; Discovery is c-6, below).
    matrix = {"c-2-2-1", "c-2-2-2", "c-2-2-3", "c-2-2-8", "c-2-2-9", "c-2-2-4", "c-2-2-5", "c-2-2-6", "c-2-2-7",
              "c-2-4-1", "c-2-4-2", "c-2-4-3", "c-2-4-4", "c-2-4-5", "c-2-4-6",
              "c-3-2-1", "c-3-2-2", "c-3-2-5", "c-3-2-6", "c-3-2-3", "c-3-2-4", "c-3-2-7", "c-3-4-1", "c-3-4-2",
              "c-3-4-3", "c-4-2-1", "c-4-2-2", "c-4-2-3", "c-4-3-1", "c-4-3-2", "c-4-3-3", "c-4-4-1", "c-4-4-2",
              "c-4-5-1", "c-4-6-1", "c-4-6-2", "c-4-7-1", "c-4-7-2", "c-4-2-4", "c-4-3-4", "c-4-4-3"}
    assert matrix <= refs, sorted(matrix - refs)


# -- c-2-6 idempotency -------------------------------------------------------------------------------------------

def test_the_same_request_gets_the_same_answer_every_time(api: TestClient, world: World) -> None:
    build(world)
    sync(api)
    for path, body in [(EVALUATION, ask(user(ALICE), VIEW, product(POLIS))),
                       (EVALUATION, ask(user(BOB), VIEW, product(VERZUIM))),
                       (EVALUATIONS, ask(user(BOB), VIEW, evaluations=[{"resource": product(POLIS)}, {}])),
                       (SUBJECTS, ask(user(), VIEW, product(POLIS), page={"limit": 2}))]:
        answers = [api.post(path, json=body).json() for _ in range(5)]
        assert all(a == answers[0] for a in answers), answers


# -- c-2-5 X-Request-ID, on every endpoint of the service --------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", EVALUATION, ask(user(ALICE), VIEW, product(POLIS))),
    ("POST", EVALUATIONS, ask(user(ALICE), VIEW, evaluations=[{"resource": product(POLIS)}])),
    ("POST", SUBJECTS, ask(user(), VIEW, product(POLIS))),
    ("POST", RESOURCES, ask(user(ALICE), VIEW, product())),
    ("POST", ACTIONS, ask(user(ALICE), resource=product(POLIS))),
    ("POST", EVALUATION, {}),  # a 400
    ("GET", "/.well-known/authzen-configuration", None),
    ("POST", "/v1/check", {"user": ALICE, "product": POLIS}),
    ("GET", "/healthz", None),
    ("GET", "/openapi.json", None),
    ("GET", "/v1/nothing-here", None),  # a 404
    ("GET", "/inloggen", None),  # a page of the portal
    ("GET", "/v1/check", None),  # a 405
    ("POST", "/v1/check/batch", {"checks": [{"user": "x"}]}),  # a 422
])
def test_the_request_id_is_echoed_on_every_endpoint(api: TestClient, world: World, method: str, path: str,
                                                    body: Any) -> None:
    build(world)
    sync(api)
    rid = "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
    r = api.request(method, path, json=body, headers={"X-Request-ID": rid})
    assert r.headers.get_list("x-request-id") == [rid], (r.status_code, r.headers)  # once
    odd = "trace 42: /a?b=c&d#e ~!"  # any printable ASCII is kept as it came
    assert api.request(method, path, json=body, headers={"X-Request-ID": odd}).headers["x-request-id"] == odd
    del api.headers["Authorization"]
    r = api.request(method, path, json=body, headers={"X-Request-ID": rid})  # a 401 on the decision endpoints
    assert r.headers["x-request-id"] == rid


def _uuid4(value: str) -> bool:
    import uuid

    try:
        return uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
    except ValueError:
        return False


@pytest.mark.parametrize("sent", [None, "", "x" * 201, "a\tb", "caf\u00e9", "\x7f"])
def test_an_absent_or_unusable_request_id_is_replaced_by_a_uuid4(api: TestClient, sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent.encode("utf-8")}
    r = api.post(EVALUATION, json=ask(user(ALICE), VIEW, product(POLIS)), headers=headers)
    assert r.status_code == 200
    made = r.headers["x-request-id"]
    assert _uuid4(made) and made != sent, made
    again = api.post(EVALUATION, json=ask(user(ALICE), VIEW, product(POLIS)), headers=headers)
    assert again.headers["x-request-id"] != made  # one per request
    assert api.post(EVALUATION, json={}, headers={"X-Request-ID": "x" * 200}).headers["x-request-id"] == "x" * 200


def test_the_openapi_document_declares_the_request_id_on_every_answer(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            for status, answer in op["responses"].items():
                assert answer["headers"]["X-Request-ID"]["required"] is True, (method, path, status)


# -- c-4-5 pagination --------------------------------------------------------------------------------------------

MANY = [f"user{i:02d}@korenschoof.nl" for i in range(7)]


def many(world: World) -> None:
    build(world)
    for email in MANY:
        world.account(email, KORENSCHOOF)
        world.grant(email, KORENSCHOOF, [POLIS])


def pages(api: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    out, token = [], None
    while True:
        page = {**body.get("page", {}), **({"token": token} if token else {})}
        r = api.post(SUBJECTS, json={**body, "page": page})
        assert r.status_code == 200, r.text
        out.append(r.json())
        token = r.json()["page"]["next_token"]
        if token == "":
            return out
        assert len(out) < 20


def test_subject_search_pages_through_every_user_once(api: TestClient, world: World) -> None:
    many(world)
    sync(api)
    body = ask(user(), VIEW, product(POLIS), page={"limit": 3})
    got = pages(api, body)
    everyone = sorted([ALICE, BOB, DAVE, *MANY])
    assert [[e["id"] for e in p["results"]] for p in got] == [everyone[0:3], everyone[3:6], everyone[6:9],
                                                              everyone[9:]]
    assert [p["page"]["count"] for p in got] == [3, 3, 3, 1]
    # Without a limit: one page of everyone (the default page holds 100).
    one = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS))).json()
    assert [e["id"] for e in one["results"]] == everyone and one["page"] == {"next_token": "", "count": 10}
    # Resource search pages the same way.
    first = api.post(RESOURCES, json=ask(user(ALICE), VIEW, product(), page={"limit": 1})).json()
    assert [e["id"] for e in first["results"]] == [POLIS] and first["page"]["next_token"]
    rest = api.post(RESOURCES, json=ask(user(ALICE), VIEW, product(),
                                        page={"limit": 1, "token": first["page"]["next_token"]})).json()
    assert [e["id"] for e in rest["results"]] == [VERZUIM] and rest["page"]["next_token"] == ""


def test_a_limit_of_0_asks_for_nothing_and_a_huge_one_for_at_most_1000(api: TestClient, world: World) -> None:
    # The standard: page.limit is "a non-negative integer indicating the maximum number of results to return".
    many(world)
    sync(api)
    everyone = sorted([ALICE, BOB, DAVE, *MANY])
    for path, body in [(SUBJECTS, ask(user(), VIEW, product(POLIS))), (RESOURCES, ask(user(ALICE), VIEW, product())),
                       (ACTIONS, ask(user(ALICE), resource=product(POLIS)))]:
        zero = api.post(path, json={**body, "page": {"limit": 0}})
        # No results, and no token to go on: with the same limit, as every later page must keep, it would only
        # lead to this same empty page again.
        assert zero.status_code == 200 and zero.json() == {"page": {"next_token": "", "count": 0}, "results": []}
    for huge in (1001, 10**6, 2**63 - 1):
        r = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"limit": huge}))
        assert [e["id"] for e in r.json()["results"]] == everyone and r.json()["page"]["next_token"] == "", huge
    for bad in (-1, 2**63, 1.5, "2", True, None, [3]):
        r = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"limit": bad}))
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_field"), (bad, r.text)


def test_more_than_1000_results_page_by_1000_at_most() -> None:
    # The paging itself, over 2003 made-up ids (a world of a thousand accounts would only make the test slow).
    from authz.api.authzen import _Paging

    asked: dict[str, Any] = ask(user(), VIEW, product(POLIS))
    ids = [f"u{i:04d}" for i in range(2003)]
    pages, token = [], None
    while token != "":
        paging = _Paging({**asked, "page": {"limit": 5000} if token is None else {"token": token}})
        shown, token = paging.page(i for i in ids if paging.after is None or i > paging.after)
        pages.append(shown)
    assert [len(p) for p in pages] == [1000, 1000, 3] and [i for p in pages for i in p] == ids


def test_a_token_alone_goes_on_with_its_limit(api: TestClient, world: World) -> None:
    # c-4-5-2: the harness follows a page asked with page.limit by sending page.token only.
    many(world)
    sync(api)
    everyone = sorted([ALICE, BOB, DAVE, *MANY])
    first = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"limit": 4})).json()
    seen, token = [e["id"] for e in first["results"]], first["page"]["next_token"]
    while token:
        r = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"token": token}))
        assert r.status_code == 200, r.text
        assert r.json()["page"]["count"] == len(r.json()["results"]) <= 4
        seen += [e["id"] for e in r.json()["results"]]
        token = r.json()["page"]["next_token"]
    assert seen == everyone
    # The same limit sent again is no change; another one is.
    again = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"limit": 4, "token": first["page"][
        "next_token"]}))
    assert [e["id"] for e in again.json()["results"]] == everyone[4:8]
    for other in (0, 3, 100):
        r = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"limit": other, "token": first["page"][
            "next_token"]}))
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_page_token"), other


def test_a_page_token_belongs_to_its_search(api: TestClient, world: World) -> None:
    many(world)
    sync(api)
    body = ask(user(), VIEW, product(POLIS), page={"limit": 3})
    token = api.post(SUBJECTS, json=body).json()["page"]["next_token"]
    for changed in [ask(user(), VIEW, product(POLIS, afnemer=KORENSCHOOF), page={"limit": 3, "token": token}),
                    ask(user(), VIEW, product(POLIS), page={"limit": 4, "token": token}),
                    ask(user(), VIEW, product(POLIS), context={"time": "now"}, page={"limit": 3, "token": token})]:
        r = api.post(SUBJECTS, json=changed)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_page_token"), changed
    r = api.post(RESOURCES, json=ask(user(ALICE), VIEW, product(), page={"limit": 3, "token": token}))
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_page_token")


def test_a_forged_page_token_shows_nothing_the_search_would_not(api: TestClient, world: World) -> None:
    # A token only says where to go on; every page is decided afresh, so a made-up position skips, never adds.
    import base64
    import json

    many(world)
    world.account("zz-nogrant@korenschoof.nl", KORENSCHOOF)
    sync(api)
    body = ask(user(), VIEW, product(VERZUIM), page={"limit": 2})
    token = api.post(SUBJECTS, json=body).json()["page"]["next_token"]
    assert token == ""  # only alice may view verzuim
    real = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"limit": 2})).json()["page"]["next_token"]
    digest, limit, _ = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))
    assert limit == 2
    for after in ["", "a", "alice@korenschoof.nl", "\u0000"]:
        forged = base64.urlsafe_b64encode(json.dumps([digest, 2, after]).encode()).decode()
        r = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"limit": 2, "token": forged}))
        assert r.status_code == 200
        for e in r.json()["results"]:
            assert e["id"] > after and api.post(EVALUATION, json=ask(user(e["id"]), VIEW, product(POLIS))).json()[
                "decision"] is True
    # A forged limit is held to the same bounds as a sent one; a token of another shape is not ours.
    forged = base64.urlsafe_b64encode(json.dumps([digest, 10**9, None]).encode()).decode()
    r = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"token": forged}))
    assert r.status_code == 200 and r.json()["page"]["count"] == 10  # all of them: at most 1000 a page
    for shape in ([digest, 0, None], [digest, True, None], [digest, 2], {"a": 1, "b": 2, "c": 3}, [digest, 2, 5]):
        forged = base64.urlsafe_b64encode(json.dumps(shape).encode()).decode()
        r = api.post(SUBJECTS, json=ask(user(), VIEW, product(POLIS), page={"token": forged}))
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_page_token"), shape


# -- c-6 discovery ---------------------------------------------------------------------------------------------

def test_the_discovery_document_names_five_reachable_endpoints(api: TestClient, world: World) -> None:
    build(world)
    sync(api)
    key = api.headers.pop("Authorization")
    r = api.get("/.well-known/authzen-configuration")  # no key needed: a PEP reads it before anything else
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    meta = r.json()
    base = api.app.state.authz.settings.base_url  # type: ignore[attr-defined]
    assert meta == {"policy_decision_point": base,
                    "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
                    "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
                    "search_subject_endpoint": f"{base}/access/v1/search/subject",
                    "search_resource_endpoint": f"{base}/access/v1/search/resource",
                    "search_action_endpoint": f"{base}/access/v1/search/action"}
    bodies = {"access_evaluation_endpoint": ask(user(ALICE), VIEW, product(POLIS)),
              "access_evaluations_endpoint": ask(user(ALICE), VIEW, evaluations=[{"resource": product(POLIS)}]),
              "search_subject_endpoint": ask(user(), VIEW, product(POLIS)),
              "search_resource_endpoint": ask(user(ALICE), VIEW, product()),
              "search_action_endpoint": ask(user(ALICE), resource=product(POLIS))}
    for name, body in bodies.items():
        path = meta[name].removeprefix(base)
        assert api.post(path, json=body).status_code == 401, name  # reachable, and guarded
        assert api.post(path, json=body, headers={"Authorization": key}).status_code == 200, name

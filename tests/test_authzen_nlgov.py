"""The Dutch government profile of AuthZEN (Logius, authzen-nlgov) on the AuthZEN endpoints, SQLite and PostgreSQL:
``context.time`` decides as of that instant (before and after a change; a later day against that day's contracts),
``context.traceparent`` (or the header), ``action.properties.processing_activity_id`` and ``algorithm_id`` go into the
decision log with every evaluation, and a malformed member is a 400 (in place, for an item of a batch)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from authz.api import authzen
from authz.domain.access import Reason
from authz.store import decisionlog as stored
from tests.conftest import login, sync
from tests.factories import World
from tests.test_decision_log import ANNA, OPERATOR, ORG, TRACE, build  # the same small world

OTHER_TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ACTIVITY = "https://register.example.nl/verwerkingen/loonbeslag"
ALGORITHM = "urn:nl:algoritmeregister:42"
POLIS = "polisadministratie"


def ask(time: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": {"type": "user", "id": ANNA}, "action": {"name": "view"},
                            "resource": {"type": "product", "id": POLIS, "properties": {"afnemer": ORG}}}
    if time is not None:
        body["context"] = {"time": time}
    return {**body, **extra}


def decided(api: TestClient, body: dict[str, Any]) -> bool:
    r = api.post("/access/v1/evaluation", json=body)
    assert r.status_code == 200, r.text
    allowed: bool = r.json()["decision"]
    return allowed


def rfc3339(instant: Any) -> str:
    return str(instant.isoformat())


def test_context_time_decides_as_of_that_instant(api: TestClient, world: World, clock: Any) -> None:
    build(world)
    granted = clock.now()
    clock.advance(minutes=30)
    world.grant(ANNA, ORG, [])  # revoked
    revoked = clock.now()
    clock.advance(minutes=30)
    sync(api)
    assert decided(api, ask()) is False  # now
    assert decided(api, ask(rfc3339(granted + timedelta(minutes=10)))) is True  # before the revocation
    assert decided(api, ask(rfc3339(revoked))) is False  # the instant of the change holds the change
    assert decided(api, ask(rfc3339(granted - timedelta(days=1)))) is False  # before anything existed
    r = api.post("/access/v1/evaluation", json=ask(rfc3339(granted - timedelta(days=1))))
    assert r.json()["context"]["reason"] == "unknown_user"
    # In a batch, each item as of its own instant (context is a whole-entity default, an item's replaces it).
    r = api.post("/access/v1/evaluations", json={**ask(rfc3339(granted + timedelta(minutes=1))), "evaluations": [
        {}, {"context": {}}, {"context": {"time": rfc3339(revoked + timedelta(minutes=1))}}]})
    assert [e["decision"] for e in r.json()["evaluations"]] == [True, False, False]


def test_a_later_instant_counts_that_days_contract(api: TestClient, world: World, clock: Any) -> None:
    build(world)
    world.contract(ORG, POLIS, valid_until=clock.today() + timedelta(days=2))
    sync(api)
    assert decided(api, ask(rfc3339(clock.now() + timedelta(days=1)))) is True
    assert decided(api, ask(rfc3339(clock.now() + timedelta(days=5)))) is False


@pytest.mark.parametrize("time", ["yesterday", "2026-13-01T00:00:00Z", "2026-06-15 10:00", 1718445600, ""])
def test_a_malformed_context_time_is_a_400_and_in_place_in_a_batch(api: TestClient, world: World,
                                                                    time: Any) -> None:
    build(world)
    sync(api)
    r = api.post("/access/v1/evaluation", json=ask(time))
    assert r.status_code == 400 and r.json()["error"]["code"] in ("invalid_time", "invalid_field"), r.text
    r = api.post("/access/v1/evaluations", json={**ask(), "evaluations": [{}, {"context": {"time": time}}]})
    assert r.status_code == 200
    first, second = r.json()["evaluations"]
    assert first["decision"] is True and second["decision"] is False and second["context"]["error"]["status"] == 400


@pytest.mark.parametrize("uri", ["not a uri", "geen-schema", "://leeg", "https://x.nl/" + "a" * 2100, 42])
def test_a_malformed_processing_activity_or_algorithm_is_a_400(api: TestClient, world: World, uri: Any) -> None:
    build(world)
    sync(api)
    for member in ("processing_activity_id", "algorithm_id"):
        r = api.post("/access/v1/evaluation", json=ask(action={"name": "view", "properties": {member: uri}}))
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_uri"), r.text


def logged(api: TestClient) -> list[dict[str, Any]]:
    st: Any = api.app.state.authz  # type: ignore[attr-defined]
    assert st.decisions.flush()
    login(api, OPERATOR)
    r = api.get("/v1/operator/decisions")
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["decisions"]
    return rows


def test_every_evaluation_is_logged_with_its_trace_and_nlgov_identifiers(api: TestClient, world: World,
                                                                         clock: Any) -> None:
    build(world)
    sync(api)
    nlgov = {"name": "view", "properties": {"processing_activity_id": ACTIVITY, "algorithm_id": ALGORITHM}}
    # context.traceparent wins over the header; a malformed one is ignored, and the header's counts then.
    api.post("/access/v1/evaluation", json={**ask(action=nlgov), "context": {"traceparent": OTHER_TRACE}},
             headers={"traceparent": TRACE})
    api.post("/access/v1/evaluation", json={**ask(), "context": {"traceparent": "00-nonsense"}},
             headers={"traceparent": TRACE})
    api.post("/access/v1/evaluations", json={**ask(), "evaluations": [
        {}, {"action": {"name": "edit"}}, {"subject": {"type": "group", "id": "hr"}},
        {"resource": {"type": "dossier", "id": "a\u0000b\nc"}}]})  # control characters: still logged, shipped
    api.post("/access/v1/search/action", json={"subject": {"type": "user", "id": ANNA},
                                               "resource": {"type": "product", "id": POLIS},
                                               "context": {"traceparent": OTHER_TRACE}})
    rows = logged(api)
    assert [(d["user"], d["product"], d["afnemer"], d["decision"], d["reason"]) for d in rows] == [
        (ANNA, POLIS, None, True, "granted"),  # the action search, the newest
        (ANNA, "a\ufffdb\ufffdc", None, False, "unknown_resource_type"),
        ("hr", POLIS, ORG, False, "unknown_subject_type"),
        (ANNA, POLIS, ORG, False, "unsupported_action"),
        (ANNA, POLIS, ORG, True, "granted"),
        (ANNA, POLIS, ORG, True, "granted"),
        (ANNA, POLIS, ORG, True, "granted"),
    ]
    assert [d["trace_id"] for d in rows[-2:]] == ["4bf92f3577b34da6a3ce929d0e0e4736",
                                                  "0af7651916cd43dd8448eb211c80319c"]
    assert (rows[-1]["processing_activity_id"], rows[-1]["algorithm_id"]) == (ACTIVITY, ALGORITHM)
    assert rows[0]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"  # the action search's, from its context
    assert all(d["processing_activity_id"] is None for d in rows[:-1])
    assert all(d["as_of"] is None for d in rows)  # none asked for another instant


def test_every_result_a_subject_or_resource_search_shows_is_logged_as_its_permit(api: TestClient,
                                                                                  world: World) -> None:
    build(world)
    bea = "bea@bakkerij.nl"
    world.account(bea, ORG)
    world.grant(bea, ORG, [POLIS])
    sync(api)
    view, polis = {"name": "view"}, {"type": "product", "id": POLIS, "properties": {"afnemer": ORG}}
    subjects = {"subject": {"type": "user"}, "action": view, "resource": polis, "page": {"limit": 1}}
    first = api.post("/access/v1/search/subject", json=subjects, headers={"traceparent": TRACE}).json()
    token = first["page"]["next_token"]
    second = api.post("/access/v1/search/subject", json={**subjects, "page": {"limit": 1, "token": token}}).json()
    assert [r["id"] for p in (first, second) for r in p["results"]] == [ANNA, bea]
    # Any afnemer (none named): logged as such; the trace of context.traceparent.
    found = api.post("/access/v1/search/resource", json={
        "subject": {"type": "user", "id": ANNA}, "action": view, "resource": {"type": "product"},
        "context": {"traceparent": OTHER_TRACE}}).json()
    assert [r["id"] for r in found["results"]] == [POLIS]
    # Nothing found, nothing learnt: nothing logged.
    assert api.post("/access/v1/search/subject", json={**subjects, "resource": {"type": "product", "id": "verzuim"}}
                    ).json()["results"] == []
    api.post("/access/v1/evaluation", json=ask())
    rows = logged(api)
    assert [(d["user"], d["product"], d["afnemer"], d["decision"], d["reason"], d["trace_id"]) for d in rows] == [
        (ANNA, POLIS, ORG, True, "granted", None),  # the evaluation, the newest
        (ANNA, POLIS, None, True, "granted", OTHER_TRACE.split("-")[1]),
        (bea, POLIS, ORG, True, "granted", None),
        (ANNA, POLIS, ORG, True, "granted", TRACE.split("-")[1]),
    ]
    assert len({d["client"] for d in rows}) == 1 and rows[0]["client"]
    assert len({d["revision"] for d in rows}) == 1


def test_a_decision_as_of_a_past_instant_is_logged_at_its_revision(api: TestClient, world: World,
                                                                   clock: Any) -> None:
    build(world)
    then, revision_then = clock.now(), sync(api)
    clock.advance(minutes=5)
    world.grant(ANNA, ORG, [])
    sync(api)
    assert decided(api, ask(rfc3339(then))) is True
    (row,) = logged(api)
    assert (row["decision"], row["reason"], row["revision"]) == (True, "granted", revision_then)
    # The instant asked for beside the instant answered (five minutes later).
    assert datetime.fromisoformat(row["as_of"]) == then and row["at"] != row["as_of"]


def test_every_reason_the_authzen_edge_answers_has_a_code_in_the_log() -> None:
    assert set(authzen.REASONS) <= set(stored.REASONS)


def test_the_edges_own_reasons_are_reasons_of_a_decision() -> None:
    # The denials of another action or entity type are Decisions like the decider's, typed as such (no cast, no
    # type: ignore), and the document's enum is that type's.
    edge = {"unsupported_action", "unknown_subject_type", "unknown_resource_type"}
    assert edge <= {r.value for r in Reason} and [r.value for r in Reason] == authzen.REASONS
    assert "type: ignore" not in Path(authzen.__file__).read_text()

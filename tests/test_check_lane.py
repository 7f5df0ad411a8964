"""The fast lane of POST /v1/check (authz/api/checklane.py) answers exactly as the general stack does: every request
below, and random bodies, go through the app as served (the lane in front) and through the general stack alone
(the lane skipped), on the same started instance; status, headers (in order) and body must be equal byte for
byte. The lane must also really answer the plain case itself, and record each decision once."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from authz.api.checklane import CheckLane
from tests.conftest import sync
from tests.factories import World
from tests.test_decision_log import ANNA, ORG, OTHER
from tests.test_decision_log import build as decision_log_world

UNKNOWN = "99999999"
PIET = "piet@bakkerij.nl"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def build(world: World) -> None:
    decision_log_world(world)  # Anna holds polisadministratie (contracted) for her own organisation
    world.grant(ANNA, ORG, ["polisadministratie", "verzuim"])  # verzuim: no contract
    world.account(PIET, ORG, status="inactive")


def lane_of(client: TestClient) -> CheckLane:
    stack = client.app.middleware_stack  # type: ignore[attr-defined]
    assert isinstance(stack, CheckLane)
    return stack


def ask(client: TestClient, through_lane: bool, body: bytes | list[bytes], headers: list[tuple[bytes, bytes]],
        method: str = "POST", path: str = "/v1/check") -> Answer:
    """One request straight to the ASGI app, on the instance's own event loop; the raw answer."""
    lane = lane_of(client)
    app = lane if through_lane else lane.app
    parts = body if isinstance(body, list) else [body]

    async def call() -> Answer:
        incoming = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
                 "server": ("testserver", 80), "client": ("127.0.0.1", 5000), "app": client.app,
                 "headers": [(b"host", b"testserver"), *headers]}
        await app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        return (start["status"], list(start.get("headers", [])),
                b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))

    answer: Answer = client.portal.call(call)  # type: ignore[union-attr]
    return answer


def same(client: TestClient, body: bytes | list[bytes], headers: list[tuple[bytes, bytes]], **kw: Any) -> Answer:
    """The request through the lane and through the general stack: the answers must be equal (but for the
    X-Request-ID each makes for a request that sent no usable one: those are held to be fresh uuid4s)."""
    fast, general = ask(client, True, body, headers, **kw), ask(client, False, body, headers, **kw)
    if not any(k == b"x-request-id" and v == RID[1] for k, v in headers):
        ids = [dict(a[1])[b"x-request-id"] for a in (fast, general)]
        assert ids[0] != ids[1] and all(uuid.UUID(i.decode()).version == 4 for i in ids)
        fast, general = ((s, [h for h in hs if h[0] != b"x-request-id"], b) for s, hs, b in (fast, general))
    assert fast == general, (fast, general)
    return fast


def key(service_key: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {service_key}".encode())


JSON = (b"content-type", b"application/json")
RID = (b"x-request-id", b"vaste-id-1")


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.fixture
def started(client: TestClient, world: World) -> TestClient:
    build(world)
    sync(client)
    return client


PLAIN = [
    body(user=ANNA, product="polisadministratie"),
    body(user=ANNA, product="polisadministratie", afnemer=ORG),
    body(user=ANNA, product="verzuim"),  # no contract
    body(user=ANNA, product="polisadministratie", afnemer=OTHER),  # no mandate
    body(user=ANNA, product="polisadministratie", afnemer=UNKNOWN),  # R13: unknown afnemer
    body(user="niemand@bakkerij.nl", product="polisadministratie"),
    body(user=ANNA, product="bestaat-niet"),
    body(user=PIET, product="polisadministratie"),
    body(user="ANNA@Bakkerij.NL", product="polisadministratie"),
    b'{"product": "polisadministratie",   "user": "anna@bakkerij.nl"}',
]


@pytest.mark.parametrize("payload", PLAIN)
def test_the_lane_answers_the_plain_checks_itself_as_the_general_stack_would(started: TestClient, service_key: str,
                                                                             payload: bytes) -> None:
    lane = lane_of(started)
    before = lane.answered
    status, _, _ = same(started, payload, [JSON, key(service_key), RID])
    assert status == 200 and lane.answered == before + 1  # taken once: the general stack's run is not counted
    same(started, payload, [JSON, key(service_key), RID, (b"traceparent", TRACE.encode())])
    same(started, [payload[:5], payload[5:]], [JSON, key(service_key), RID])  # in two pieces


OTHERS: list[tuple[str, bytes | list[bytes], list[tuple[bytes, bytes]]]] = [
    ("not json", b"{nee", [JSON]),
    ("empty", b"", [JSON]),
    ("an array", b"[1, 2]", [JSON]),
    ("a key twice", b'{"user": "niemand@x.nl", "user": "anna@bakkerij.nl", "product": "polisadministratie"}', [JSON]),
    ("an unknown field", body(user=ANNA, product="polisadministratie", extra=1), [JSON]),
    ("no product", body(user=ANNA), [JSON]),
    ("a control character", body(user="anna\u0001@bakkerij.nl", product="polisadministratie"), [JSON]),
    ("a KELVIN SIGN", body(user="\u212aarel@bakkerij.nl", product="polisadministratie"), [JSON]),
    ("a number for a user", body(user=5, product="polisadministratie"), [JSON]),
    ("a bad afnemer", body(user=ANNA, product="polisadministratie", afnemer="1234"), [JSON]),
    ("min_revision", body(user=ANNA, product="polisadministratie", min_revision=1), [JSON]),
    ("min_revision ahead", body(user=ANNA, product="polisadministratie", min_revision=10**12), [JSON]),
    ("text/plain", body(user=ANNA, product="polisadministratie"), [(b"content-type", b"text/plain")]),
    ("no content type", body(user=ANNA, product="polisadministratie"), []),
    ("json with a charset", body(user=ANNA, product="polisadministratie"),
     [(b"content-type", b"application/json; charset=utf-8")]),
    ("two content types", body(user=ANNA, product="polisadministratie"),
     [JSON, (b"content-type", b"text/plain")]),
    ("a foreign origin", body(user=ANNA, product="polisadministratie"), [JSON, (b"origin", b"https://evil.example")]),
    ("its own origin", body(user=ANNA, product="polisadministratie"), [JSON, (b"origin", b"http://testserver")]),
    ("too large", body(user=ANNA, product="polisadministratie", pad="x" * 1_000_001), [JSON]),
    ("too large in pieces", [b'{"user": "' + b"a" * 600_000, b"b" * 600_000 + b'"}'], [JSON]),
    ("a bad request id", body(user=ANNA, product="polisadministratie"), [JSON, (b"x-request-id", b"\x01")]),
    ("a malformed traceparent", body(user=ANNA, product="polisadministratie"), [JSON, (b"traceparent", b"00-x")]),
]


@pytest.mark.parametrize(("name", "payload", "headers"), OTHERS, ids=[o[0] for o in OTHERS])
def test_every_other_check_answers_as_the_general_stack_does(started: TestClient, service_key: str, name: str,
                                                            payload: bytes | list[bytes],
                                                            headers: list[tuple[bytes, bytes]]) -> None:
    sent_id = [RID] if not any(k == b"x-request-id" for k, _ in headers) else []
    same(started, payload, [*headers, key(service_key), *sent_id])


@pytest.mark.parametrize("authorization", [None, b"Bearer ", b"Bearer nonsense", b"Basic abc", b"bearer"])
def test_without_a_valid_key_the_answer_is_the_general_stacks(started: TestClient, authorization: bytes | None) -> None:
    auth = [(b"authorization", authorization)] if authorization is not None else []
    status, _, _ = same(started, body(user=ANNA, product="polisadministratie"), [JSON, RID, *auth])
    assert status == 401


def test_an_id_made_for_a_request_without_one_is_a_fresh_uuid4(started: TestClient, service_key: str) -> None:
    status, headers, _ = same(started, PLAIN[0], [JSON, key(service_key)])
    assert status == 200 and [k for k, _ in headers] == [b"content-length", b"content-type", b"cache-control"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/check"), ("POST", "/v1/check/"), ("PUT", "/v1/check")])
def test_other_methods_and_paths_pass_by(started: TestClient, service_key: str, method: str, path: str) -> None:
    before = lane_of(started).answered
    same(started, PLAIN[0], [JSON, key(service_key), RID], method=method, path=path)
    assert lane_of(started).answered == before


def test_each_decision_is_logged_once_whichever_way_it_went(started: TestClient, service_key: str) -> None:
    st: Any = started.app.state.authz  # type: ignore[attr-defined]
    assert st.decisions.flush()
    before = st.decisions.figures()["journaled"]
    ask(started, True, PLAIN[0], [JSON, key(service_key), RID])  # the lane
    ask(started, True, body(user=ANNA, product="polisadministratie", min_revision=1),
        [JSON, key(service_key), RID])  # passed on, then decided by the route
    ask(started, True, b"{nee", [JSON, key(service_key), RID])  # refused: no decision
    assert st.decisions.flush()
    assert st.decisions.figures()["journaled"] == before + 2


_values = st.one_of(st.none(), st.booleans(), st.integers(-2, 2**70), st.text(max_size=12),
                    st.sampled_from([ANNA, PIET, "niemand@bakkerij.nl", "polisadministratie", "verzuim", ORG,
                                     OTHER, UNKNOWN, "", " anna@bakkerij.nl"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(["user", "product", "afnemer", "min_revision", "extra"]), _values,
                              max_size=5))
def test_any_body_answers_as_the_general_stack_does(started: TestClient, service_key: str,
                                                    fields: dict[str, Any]) -> None:
    same(started, json.dumps(fields).encode(), [JSON, key(service_key), RID])


@pytest.mark.parametrize("twice", ["authorization bad first", "authorization good first", "x-request-id",
                                   "content-length", "content-length too large", "content-length not a number"])
def test_a_header_sent_twice_or_declaring_too_much_is_answered_as_the_general_stack_does(
        started: TestClient, service_key: str, twice: str) -> None:
    good, bad = key(service_key), (b"authorization", b"Bearer nonsense")
    payload = PLAIN[0]
    length = (b"content-length", str(len(payload)).encode())
    headers = {
        "authorization bad first": [JSON, bad, good, RID],
        "authorization good first": [JSON, good, bad, RID],
        "x-request-id": [JSON, good, RID, (b"x-request-id", b"tweede")],
        "content-length": [JSON, good, RID, length, length],
        "content-length too large": [JSON, good, RID, (b"content-length", b"2000000")],
        "content-length not a number": [JSON, good, RID, (b"content-length", b"12a")],
    }[twice]
    status, answered, _ = same(started, payload, headers)
    if twice == "authorization bad first":
        assert status == 401  # the first one counts, as everywhere
    if twice == "x-request-id":
        assert dict(answered)[b"x-request-id"] == RID[1]
    if twice == "content-length too large":
        assert status == 413

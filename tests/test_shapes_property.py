"""The /v1/check fast path and the full validator give the same outcome for every JSON body: the same parsed
values, or the same error code and message. Both derive from one declaration (``decisions.CHECK``); before
it, the fast path let through what the validator refused (a control character in the address)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from authz.api import decisions
from authz.errors import Invalid
from tests.mailbox import error_of

NAMES = sorted(decisions.CHECK.names)

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 2, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
# Strings close to valid ones: control characters, non-ASCII digits and letters, spaces, case, length.
odd = st.sampled_from(["\x00", "\x01", "\x1f", "\x7f", "\x85", "\x9f", "\u2028", "１", "١", "²", " ", "\t", "A",
                       "é", "@", "-", "0", "a"])
near_email = st.builds(lambda a, b, c: f"{a}@{b}.nl{c}", st.text(odd, max_size=4) | st.just("anna"),
                       st.text(odd, max_size=3) | st.just("korenschoof"), st.text(odd, max_size=2))
near_code = st.text(odd, min_size=1, max_size=4) | st.sampled_from(["polisadministratie", "verzuim", "-x", "a",
                                                                    "a" * 63, "a" * 64, "Polis"])
near_kvk = st.text(st.sampled_from("0123456789１١²a "), min_size=7, max_size=9) | st.just("11111111")
field_values = {"user": near_email | json_values, "product": near_code | json_values,
                "afnemer": near_kvk | st.none() | json_values,
                "min_revision": st.integers() | st.booleans() | st.none() | json_values}
real_fields = st.fixed_dictionaries({}, optional={n: field_values[n] for n in NAMES})
bodies = (st.builds(lambda real, extra: {**real, **extra}, real_fields,
                    st.dictionaries(st.text(max_size=12) | st.sampled_from([n.upper() for n in NAMES]),
                                    json_values, max_size=2))
          | real_fields | json_values)


def outcome(parse: Any, body: Any) -> tuple[str, Any]:
    try:
        return "accepted", parse(body)
    except Invalid as exc:
        return exc.code, exc.message


@settings(max_examples=1500, deadline=None)
@given(bodies)
@example({"user": "a\u0001b@x.nl", "product": "polisadministratie"})
@example({"user": "a@x.nl\x85", "product": "polisadministratie", "afnemer": "１１１１１１１１"})
@example({"user": "a@x.nl", "product": "polisadministratie", "min_revision": 2**64})
@example({"user": "a@x.nl", "product": "polisadministratie", "min_revision": True})
@example({"user": "a@x.nl", "product": "polisadministratie", "afnemer": None, "min_revision": None})
@example({"user": ["a@x.nl"], "product": {"code": "polis"}})
def test_the_fast_path_and_the_validator_agree_on_every_body(body: Any) -> None:
    # Twice: the second time the fast path answers remembered product codes and KvK numbers.
    for _ in range(2):
        assert outcome(decisions.check_values, body) == outcome(decisions.check_values_checked, body)


@settings(max_examples=300, deadline=None)
@given(st.builds(lambda real: real, real_fields))
def test_every_body_json_can_carry_gets_one_answer_through_both(body: dict[str, Any]) -> None:
    """As the edge reads them: bytes through orjson first (what JSON cannot say never reaches the parsers)."""
    try:
        decoded = orjson.loads(orjson.dumps(body))
    except orjson.JSONEncodeError:  # integers beyond 64 bits: orjson refuses them on both sides
        return
    assert outcome(decisions.check_values, decoded) == outcome(decisions.check_values_checked, decoded)


def test_a_control_character_in_the_address_is_a_422_on_check_and_batch(api: TestClient) -> None:
    body = {"user": "a\u0001b@x.nl", "product": "polisadministratie"}
    r = api.post("/v1/check", json=body)
    assert r.status_code == 422 and error_of(r) == "invalid_email", r.text
    r = api.post("/v1/check/batch", json={"checks": [body]})
    assert r.status_code == 422 and error_of(r) == "invalid_email", r.text


def test_a_malformed_check_is_refused_before_waiting_for_min_revision(api: TestClient) -> None:
    r = api.post("/v1/check", json={"user": 42, "product": "polisadministratie", "min_revision": 10**9})
    assert r.status_code == 422 and error_of(r) == "invalid_email", r.text

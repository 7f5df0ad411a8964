"""W3C Trace Context level 1: which traceparent values are read, which are ignored, and how often that is said."""

from __future__ import annotations

import logging

import pytest

from authz.trace import Trace, Traces, parse

TRACE_ID, SPAN_ID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"


@pytest.mark.parametrize("value", [
    VALID,
    f"00-{TRACE_ID}-{SPAN_ID}-00",  # not sampled: still a trace
    f" {VALID}\t",  # optional whitespace around a header value
    f"01-{TRACE_ID}-{SPAN_ID}-01",  # a later version, as long as version 00
    f"cc-{TRACE_ID}-{SPAN_ID}-09-what-comes-next",  # a later version with more fields, after a dash
])
def test_a_valid_traceparent_gives_its_trace_and_span(value: str) -> None:
    assert parse(value) == Trace(TRACE_ID, SPAN_ID)


@pytest.mark.parametrize("value", [
    "",
    "garbage",
    VALID.upper(),  # lower-case hex only
    f"ff-{TRACE_ID}-{SPAN_ID}-01",  # version ff is invalid
    f"00-{'0' * 32}-{SPAN_ID}-01",  # an all-zero trace id
    f"00-{TRACE_ID}-{'0' * 16}-01",  # an all-zero parent id
    f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 has exactly four fields
    f"00-{TRACE_ID}-{SPAN_ID}-1",  # flags are two digits
    f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",  # a short trace id
    f"00_{TRACE_ID}_{SPAN_ID}_01",
    f"01-{TRACE_ID}-{SPAN_ID}-01x",  # a later version goes on only after a dash
    f"0-{TRACE_ID}-{SPAN_ID}-01",
    f"00-{TRACE_ID}-{SPAN_ID}-0g",
])
def test_a_malformed_traceparent_gives_nothing(value: str) -> None:
    assert parse(value) is None


def test_two_traceparent_headers_are_malformed_and_none_is_none() -> None:
    traces = Traces()
    assert traces.of_headers([(b"traceparent", VALID.encode()), (b"traceparent", VALID.encode())]) is None
    assert traces.of_headers([(b"host", b"x")]) is None and traces.read(None) is None
    assert traces.of_headers([(b"traceparent", VALID.encode())]) == Trace(TRACE_ID, SPAN_ID)
    assert traces.malformed == 1


def test_malformed_values_are_said_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "authz.trace")
    traces = Traces(warn_every=0.0)
    traces.read("eerste\nregel")
    assert "'eerste\\nregel'" in caplog.records[-1].getMessage()  # shown by repr: no line of its own in the log
    quiet = Traces(warn_every=3600)
    caplog.clear()
    for _ in range(100):
        quiet.read("x" * 500)
    assert len(caplog.records) == 1 and quiet.malformed == 100
    assert len(caplog.records[0].getMessage()) < 250  # the value is cut short
    quiet.warn_every = 0.0
    quiet.read("y")
    assert "(99 more ignored since the last warning)" in caplog.records[-1].getMessage()

"""W3C Trace Context level 1: the ``traceparent`` a caller sends, read strictly, for the decision log.

``00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>``, lower case; neither id all zeros; version ``ff`` is
invalid; a later version is read by its first four fields, and may only go on after a ``-``
(https://www.w3.org/TR/trace-context/#traceparent-header). A malformed value is ignored — the decision is answered
and logged without a trace — and said so in the log at most once a minute (with how many were ignored meanwhile),
so that a caller sending garbage on every request cannot flood the log.
"""

from __future__ import annotations

import logging
import re
import time
from typing import NamedTuple

log = logging.getLogger(__name__)

_FIELDS = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_VERSION_00 = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
WARN_EVERY_SECONDS = 60.0


class Trace(NamedTuple):
    trace_id: str  # 32 lower-case hex digits
    span_id: str  # 16: the caller's span (the W3C parent-id)


def parse(value: str) -> Trace | None:
    """The trace of a ``traceparent`` value, or None when it is malformed."""
    common = _VERSION_00.fullmatch(value)  # the usual case in one step
    if common is not None:
        return Trace(common[1], common[2])
    value = value.strip(" \t")
    m = _FIELDS.match(value)
    if m is None:
        return None
    version, trace_id, span_id, _flags = m.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    if version == "00" and len(value) != 55:
        return None
    if len(value) > 55 and value[55] != "-":  # a later version may add fields, after a dash
        return None
    return Trace(trace_id, span_id)


class Traces:
    """Reads ``traceparent`` values for one instance, counting the malformed ones and saying so in the log at most
    once per :data:`WARN_EVERY_SECONDS`."""

    def __init__(self, warn_every: float = WARN_EVERY_SECONDS) -> None:
        self.warn_every = warn_every
        self.malformed = 0
        self._warned_at: float | None = None
        self._unsaid = 0

    def read(self, value: str | None) -> Trace | None:
        """The trace of ``value`` (None: no header, or a malformed one, which is counted and maybe logged)."""
        if value is None:
            return None
        found = parse(value)
        if found is None:
            self._malformed(value)
        return found

    def of_headers(self, headers: list[tuple[bytes, bytes]]) -> Trace | None:
        """The trace of a request's raw ASGI headers. More than one ``traceparent`` is malformed (the W3C header is
        a single value)."""
        sent = [v for k, v in headers if k == b"traceparent"]
        if not sent:
            return None
        if len(sent) > 1:
            self._malformed(b", ".join(sent).decode("latin-1"))
            return None
        return self.read(sent[0].decode("latin-1"))

    def _malformed(self, value: str) -> None:
        self.malformed += 1
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < self.warn_every:
            self._unsaid += 1
            return
        more = f" ({self._unsaid} more ignored since the last warning)" if self._unsaid else ""
        log.warning("ignored a malformed traceparent header %.80r: the decision is logged without a trace%s",
                    value, more)
        self._warned_at, self._unsaid = now, 0

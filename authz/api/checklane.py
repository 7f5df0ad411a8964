"""The fast lane of ``POST /v1/check``: its common case answered in front of the app's general machinery.

Thousands of checks a second are one request shape; the general stack (Starlette's error handling and router, the
middlewares of :mod:`authz.api.http`, a ``Request`` and a ``Response`` object each) costs more than the decision
itself. :class:`CheckLane` sits outside all of it and answers a check itself when the request is the plain case —
JSON declared, no browser ``Origin``, a service key, a well-formed body, no ``min_revision``, an instance that can
vouch for its revision — through the very functions the route uses (:func:`authz.identity.client_of`,
:func:`authz.api.http.parse_json`, :func:`authz.api.decisions.check_values`, ``decide``, the decision log). Every
other request, and every check it does not answer itself, goes on to the general stack with its body handed on
unread: so the lane changes how fast an answer comes, never what it says. ``tests/test_check_lane.py`` holds every
answer of the lane equal, byte for byte, to the general stack's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authz import requestid
from authz.api.decisions import check_values, decide
from authz.api.http import internal_error, is_json, parse_json, usable_id
from authz.errors import AuthzError
from authz.identity import client_of
from authz.state import State

log = logging.getLogger(__name__)
PATH = "/v1/check"
# The headers the lane reads, and where it keeps each.
_READ = {b"content-type": 0, b"authorization": 1, b"x-request-id": 2, b"content-length": 3}


class CheckLane:
    """``POST /v1/check`` in its plain case (see the module); everything else passes to ``app``. ``new_id`` makes an
    ``X-Request-ID`` for a request that sent none (the one :class:`authz.api.http.RequestIds` uses)."""

    def __init__(self, app: ASGIApp, new_id: Callable[[], bytes]) -> None:
        self.app = app
        self.new_id = new_id
        self.answered = 0  # checks answered here (tests: the lane is taken)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        sent: list[bytes | None] = [None, None, None, None]  # the headers of :data:`_READ`, by their place
        for key, value in scope["headers"]:
            # A header the lane reads sent twice, or one it does not judge (a browser's Origin): the general stack's
            # to answer, which reads the first of each.
            place = _READ.get(key)
            if place is None:
                if key == b"origin":
                    break
            elif sent[place] is not None:
                break
            else:
                sent[place] = value
        else:
            ctype, auth, sent_id, length = sent
            if auth is not None and ctype is not None and is_json(ctype) and (length is None or length.isdigit()):
                await self._check(scope, receive, send, auth, sent_id, int(length) if length is not None else 0)
                return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope, receive: Receive, send: Send, auth: bytes, sent_id: bytes | None,
                     declared: int) -> None:
        st: State = scope["app"].authz
        limit = st.settings.max_body_bytes
        if declared > limit:  # the general stack refuses it before reading (413)
            await self.app(scope, receive, send)
            return
        # The body, read whole (bounded); a request whose body cannot be read here goes on with what was read.
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > limit or not message.get("more_body", False):
                break
        if messages[-1].get("more_body", False) or messages[-1]["type"] != "http.request" or len(body) > limit:
            await self.app(scope, _replay(messages, receive), send)
            return
        try:
            client = client_of(st, auth)
            user, product, afnemer, min_revision = check_values(parse_json(body))
        except AuthzError:
            await self.app(scope, _replay(messages, receive), send)  # the general stack names what is wrong
            return
        if min_revision is not None or not st.sync.current():
            await self.app(scope, _replay(messages, receive), send)  # it waits, or answers 503
            return
        rid = usable_id(sent_id) or self.new_id()
        token = requestid.enter(rid.decode("ascii"))
        try:
            try:
                d = decide(st, user, product, afnemer)
                st.decisions.record(client, user, product, afnemer, d,
                                    st.decisions.traces.of_headers(scope["headers"]))
                payload = orjson.dumps({"allowed": d.allowed, "reason": d.reason, "afnemers": d.afnemers,
                                        "revision": d.revision})
            except Exception:  # an error of ours, answered as the general stack answers it
                log.exception("unhandled error on POST %s", PATH)
                await internal_error()(scope, receive, send)
                return
            self.answered += 1
            # The headers of the route's JSONResponse, in its order.
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-length", b"%d" % len(payload)), (b"content-type", b"application/json"),
                (b"cache-control", b"no-store"), (b"x-request-id", rid)]})
            await send({"type": "http.response.body", "body": payload})
        finally:
            requestid.leave(token)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` as if nothing had been read: the messages taken first, then the rest."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed

"""Shared pieces of the HTTP edge: JSON in and out, the error shape, the id every request carries
(:class:`RequestIds`) and the guard every state-changing request passes (:class:`JsonWrites`). What a body holds:
:mod:`authz.api.shapes`."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authz import requestid
from authz.errors import AuthzError, Forbidden, Invalid
from authz.service.commit import after_commit, tracking
from authz.values import whole_number


class JSONResponse(Response):
    """A JSON answer, never kept by a cache (``Cache-Control: no-store``): who may view what, a user's products or
    an organisation's accounts are nothing a shared proxy or a browser's history should hold."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        super().init_headers(headers)
        if headers is None or not any(k.lower() == "cache-control" for k in headers):
            self.raw_headers.append((b"cache-control", b"no-store"))
        rid = requestid.current()
        if rid != "-":  # the request's id: a JSON answer carries it itself (RequestIds says why)
            self.raw_headers.append((b"x-request-id", rid.encode()))


def error_response(exc: AuthzError) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)


def internal_error() -> JSONResponse:
    """The answer to an error of ours (500): it says nothing of what went wrong; the log does."""
    return JSONResponse({"error": {"code": "internal_error", "message": "Something went wrong on our side."}},
                        status_code=500)


class BadRequestBody(AuthzError):
    status = 400


class TooLarge(AuthzError):
    status = 413


class UnsupportedMedia(AuthzError):
    status = 415


MAX_REQUEST_ID = 200
# Printable ASCII only: the id is written into log lines and echoed in a header, where a control character could
# forge a line and a byte outside ASCII has no agreed meaning. (Deleting these bytes leaves nothing of a usable id.)
_PRINTABLE = bytes(range(0x20, 0x7F))


class _Uuid4s:
    """Fresh uuid4s (RFC 9562) as ASCII bytes, made a thousand at a time from one read of random bytes:
    ``uuid.uuid4()`` asks the kernel for 16 bytes each time, a system call that costs a tenth of a /v1/check here.
    Used on one event loop, like the app."""

    _BATCH = 1024

    def __init__(self) -> None:
        self._ready: list[bytes] = []

    def _refill(self) -> None:
        raw = bytearray(os.urandom(16 * self._BATCH))
        raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
        raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # variant 10xx
        h = raw.hex()
        self._ready = [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
                       .encode() for i in range(0, len(h), 32)]

    def __call__(self) -> bytes:
        if not self._ready:
            self._refill()
        return self._ready.pop()


def usable_id(sent: bytes | None) -> bytes | None:
    """An ``X-Request-ID`` the request sent, if it may be echoed and logged (see :class:`RequestIds`)."""
    if sent is not None and 0 < len(sent) <= MAX_REQUEST_ID and not sent.translate(None, _PRINTABLE):
        return sent
    return None


class RequestIds:
    """Every answer of the service carries ``X-Request-ID``: the one the request sent (AuthZEN 1.0 asks that it be
    echoed unchanged), or, when it sent none or one that is unusable (longer than :data:`MAX_REQUEST_ID`, or not
    printable ASCII), a uuid4 made here. The id is the current one (:mod:`authz.requestid`) while the request is
    answered, so every log line it causes names it. Installed outside everything else, the answers of Starlette's
    own error handling (a 500) included.

    A :class:`JSONResponse` puts the id on itself. On the decision endpoints (:attr:`_JSON_ONLY`) every answer is
    one (errors, 405 and 500 included: the app's handlers answer JSON), so there ``send`` is not wrapped: the path
    of every /v1/check pays for reading one header and setting the id only (a wrapped ``send`` costs about 1 µs
    there, measured). Elsewhere ``send`` adds the header to an answer that lacks it (an HTML page, /metrics)."""

    _JSON_ONLY = frozenset({"/v1/check", "/v1/check/batch", "/access/v1/evaluation", "/access/v1/evaluations",
                            "/access/v1/search/subject", "/access/v1/search/resource", "/access/v1/search/action"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.new_id = _Uuid4s()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = usable_id(next((v for k, v in scope["headers"] if k == b"x-request-id"), None)) or self.new_id()
        token = requestid.enter(rid.decode("ascii"))
        try:
            await self.app(scope, receive, send if scope["path"] in self._JSON_ONLY else self._sending(send, rid))
        finally:
            requestid.leave(token)

    @staticmethod
    def _sending(send: Send, rid: bytes) -> Send:
        def send_with_id(message: Message) -> Awaitable[None]:  # not async: no coroutine of its own per message
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if all(k != b"x-request-id" for k, _ in headers):  # a JSONResponse carries it already
                    message = {**message, "headers": [*headers, (b"x-request-id", rid)]}
            return send(message)

        return send_with_id


def is_json(ctype: bytes | None) -> bool:
    return ctype == b"application/json" or (ctype or b"").split(b";")[0].strip().lower() == b"application/json"


def origin_of(url: str) -> str:
    """The origin (``scheme://host[:port]``, lower case) of a URL, as a browser sends it in ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class JsonWrites:
    """The guard against cross-site requests, in one place so that no route can forget it: every state-changing
    request (POST, PUT, PATCH, DELETE) on any path, the portal's forms included, whose browser ``Origin`` is
    neither ``AUTHZ_BASE_URL``'s nor the request's own host is refused (403 ``foreign_origin``; ``Origin: null``,
    what a sandboxed frame or a redirect sends, is foreign too), and under /v1 and /access a POST, PUT or PATCH
    must be declared ``Content-Type: application/json`` (415; 400 under /access, as OpenID AuthZEN wants), also
    when it has no body. A form or text/plain POST is what another site's page may send with our cookies without
    asking first (a CORS "simple" request); a JSON one makes the browser ask, and we never say yes. The portal's
    forms also carry CSRF tokens, which still guard a request without ``Origin`` (an old browser, a non-browser
    client: those keep working). Under /v1 and /access a refusal is the JSON error; elsewhere it is ``page``'s
    answer (the portal's Dutch 403 page)."""

    _WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
    _GUARDED = ("/v1/", "/access/")
    _AUTHZEN = "/access/"

    def __init__(self, app: ASGIApp, base_url: str,
                 page: Callable[[Request, AuthzError], Response] | None = None) -> None:
        self.app = app
        self.origin = origin_of(base_url)
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in self._WRITES:
            refusal = self._refusal(scope)
            if refusal is not None and _routed(scope):  # else nothing answers it: the router's 404 or 405 is truer
                response: Response = error_response(refusal)
                if self.page is not None and not scope["path"].startswith(self._GUARDED):
                    response = self.page(Request(scope, receive), refusal)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> AuthzError | None:
        ctype = origin = host = None
        for key, value in scope["headers"]:  # one pass over the raw headers (names are lower case in ASGI)
            if key == b"content-type" and ctype is None:
                ctype = value
            elif key == b"origin" and origin is None:
                origin = value
            elif key == b"host" and host is None:
                host = value
        if origin is not None:
            sent = origin.decode("latin-1").lower()
            own = f"{scope.get('scheme', 'http')}://{(host or b'').decode('latin-1')}".lower()
            if sent not in (self.origin, own):
                return Forbidden("foreign_origin", "Requests from another site's pages are refused.")
        if scope["method"] != "DELETE" and not is_json(ctype) and scope["path"].startswith(self._GUARDED):
            kind = BadRequestBody if scope["path"].startswith(self._AUTHZEN) else UnsupportedMedia
            return kind("unsupported_media_type",
                        "Send the request as Content-Type: application/json (a body of {} where none is needed).")
        return None


class Confirmed:
    """R11's wall at the edge: a request's answer leaves only after every revision it committed was applied here
    and confirmed by every other instance (or their leases ran out). The edges call
    :func:`~authz.service.commit.after_commit` themselves; what one forgot — or what an error cut short — is waited
    for here. The answer says what was waited for: ``Authz-Revision`` (the newest revision it committed) and
    ``Authz-Confirmed`` (``true``: every instance holding a lease confirmed it; ``false``: some lease ran out first,
    so that instance answers 503 until it has caught up). The decision routes commit nothing and pass untouched."""

    _UNTRACKED = frozenset({"/v1/check", "/v1/check/batch", "/access/v1/evaluation", "/access/v1/evaluations",
                            "/access/v1/search/subject", "/access/v1/search/resource", "/access/v1/search/action"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._UNTRACKED:
            await self.app(scope, receive, send)
            return
        with tracking() as w:
            async def send_confirmed(message: Message) -> None:
                if message["type"] == "http.response.start" and w.revisions:
                    if w.waiting is not None:
                        await after_commit(scope["app"].authz, w.waiting)
                    message = {**message, "headers": [
                        *message.get("headers", ()), (b"authz-revision", b"%d" % max(w.revisions)),
                        (b"authz-confirmed", b"false" if w.unconfirmed else b"true")]}
                await send(message)

            try:
                await self.app(scope, receive, send_confirmed)
            except BaseException:
                if w.waiting is not None:  # committed, then failed: the error's answer must wait as well
                    await after_commit(scope["app"].authz, w.waiting)
                raise


def _routed(scope: Scope) -> bool:
    """Whether a route of the app answers this method at this path (asked only of a request about to be refused)."""
    return any(route.matches(scope)[0] is Match.FULL for route in scope["app"].router.routes)


async def read_json(request: Request, max_bytes: int = 1_000_000, empty: bool = False) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body when ``empty``: a write that needs none); 413 when too
    large, 400 when not JSON. That it is declared JSON, :class:`JsonWrites` has made sure."""
    declared = None
    for key, value in request.scope["headers"]:
        if key == b"content-length":
            declared = value
            break
    size_declared = whole_number(declared.decode("latin-1")) if declared is not None else None
    if size_declared is not None and size_declared > max_bytes:
        raise TooLarge("body_too_large", f"The body may be at most {max_bytes} bytes.")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge("body_too_large", f"The body may be at most {max_bytes} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if empty and not raw.strip():
        return {}
    return parse_json(raw)


def parse_json(raw: bytes) -> dict[str, Any]:
    """A body's JSON object: 400 when not JSON, 422 when not an object or when it holds a key twice."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequestBody("invalid_json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise Invalid("invalid_body", "The body must be a JSON object.")
    # A key twice: orjson keeps the last, a gateway in front of us may have read the first, so the two would judge
    # different requests. Every key is followed by a ':' outside strings, so as many ':' as decoded keys proves
    # that none was dropped; only a body with more (a ':' in a string value, or a key twice) is read again.
    colons = raw.count(b":")
    if colons > len(data) and colons > _keys(data):
        try:
            json.loads(raw, object_pairs_hook=_no_duplicates)
        except RecursionError:  # nested deeper than Python's parser goes (orjson took it): no body of ours is
            raise BadRequestBody("invalid_json", "The body is nested too deeply.") from None
    return data


def _keys(data: dict[str, Any]) -> int:
    """How many keys the objects in ``data`` hold, nested ones included."""
    count, stack = 0, list[Any]([data])
    while stack:
        item = stack.pop()
        values = item.values() if type(item) is dict else item
        if type(item) is dict:
            count += len(item)
        stack.extend(v for v in values if type(v) is dict or type(v) is list)
    return count


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        twice = sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise Invalid("duplicate_field", f"A JSON object holds a key more than once: {', '.join(twice)}.")
    return out

"""Who is asking a request: a service client by its API key, or a logged-in account by its session cookie, and
whether that account may do what the request asks (:mod:`authz.actor`). Below both edges: the JSON API and the
portal ask here."""

from __future__ import annotations

import hashlib
import ipaddress

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from authz.actor import Actor, check_permission
from authz.cache import sessions
from authz.config import Network
from authz.domain import mfa
from authz.errors import Forbidden, Unauthorized
from authz.policy import OPERATOR_SCOPE
from authz.state import State, state
from authz.values import kvk

SESSION_COOKIE = "authz_session"
MAX_KNOWN_KEYS = 1024

__all__ = ["SESSION_COOKIE", "client_address", "close_session", "current_actor", "must_enrol", "open_session",
           "require", "require_operator", "require_path_org", "service_client"]


def client_address(request: Request) -> str:
    """The client address that throttling counts (API and portal alike).

    The peer's address, unless the peer is one of ``AUTHZ_TRUSTED_PROXIES``: then ``X-Forwarded-For`` is read from
    the right (each proxy appends the address it saw), past every trusted hop, and the first address that is not
    trusted is the client. What lies left of it was written by the client itself, which could otherwise pick a
    fresh address for every guess. An entry that is not an address ends the walk at the last trusted hop.
    """
    peer = request.client.host if request.client is not None else "unknown"
    trusted = state(request).settings.trusted_proxies
    nearest = _address(peer)
    if nearest is None or not _trusted(nearest, trusted):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        nearest = address
        if not _trusted(address, trusted):
            break
    return str(nearest)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d; count it, and match it, as a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: tuple[Network, ...]) -> bool:
    return any(address in network for network in trusted)


def service_client(request: Request) -> str:
    """The name of the service client whose API key the request carries (401 otherwise). No SQL: keys are in memory.

    The digest of a header value that once carried a valid key is remembered, so a check hashes nothing; the key
    itself is looked up afresh every time, so a revoked key stops working at once.
    """
    st = state(request)
    return client_of(st, next((v for k, v in request.scope["headers"] if k == b"authorization"), b""))


def client_of(st: State, raw: bytes) -> str:
    """The service client named by ``raw``, an ``Authorization`` header's value (401 otherwise): see
    :func:`service_client`."""
    digest = st.key_digests.get(raw)
    if digest is None:
        scheme, _, key = raw.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("unauthorized", "Send a service API key as 'Authorization: Bearer <key>'.")
        digest = hashlib.sha256(key.strip().encode()).hexdigest()
        if digest in st.decider.keys and len(st.key_digests) < MAX_KNOWN_KEYS:
            st.key_digests[raw] = digest
    name = st.decider.keys.get(digest)
    if name is None:
        raise Unauthorized("unauthorized", "The API key is not valid.")
    return name


async def current_actor(request: Request, *, enrolling: bool = False) -> Actor:
    """The account whose session cookie the request carries (401 ``not_logged_in`` otherwise).

    R17: an account that must have a second factor (``AUTHZ_MFA_REQUIRED``) and has none may do nothing but enrol
    and log out: 403 ``mfa_enrolment_required`` for everything else. Only the routes of enrolment, log-out and "who
    am I" pass ``enrolling=True``; every other route, of both edges, is held here, so a new one cannot forget it.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("not_logged_in", "Log in first.")
    st = state(request)
    actor = await run_in_threadpool(sessions.actor, st.db, st.sessions, token)
    if actor is None:
        raise Unauthorized("not_logged_in", "The session has ended; log in again.")
    if not enrolling and must_enrol(request, actor):
        raise Forbidden("mfa_enrolment_required", "Set up a second factor first (POST /v1/session/mfa).")
    return actor


def must_enrol(request: Request, actor: Actor) -> bool:
    """Whether ``actor`` must set up a second factor before anything else (R17)."""
    return not actor.mfa and mfa.required(state(request).settings.mfa_required, actor.roles)


async def require(request: Request, action: str, scope: str) -> Actor:
    """The logged-in actor, once it may do ``action`` in ``scope`` (401 or 403 otherwise)."""
    actor = await current_actor(request)
    check_permission(actor, action, scope)
    return actor


async def require_operator(request: Request, action: str) -> Actor:
    return await require(request, action, OPERATOR_SCOPE)


async def require_path_org(request: Request, action: str) -> tuple[str, str]:
    """(the actor's e-mail, the organisation in the path) once the actor may do ``action`` for that organisation."""
    actor = await require(request, action, request.path_params["kvk"])
    return actor.email, kvk(request.path_params["kvk"], "kvk")


def open_session(response: Response, token: str, max_age: int, secure: bool) -> None:
    """Set the session cookie that the JSON API and the portal share (HttpOnly, SameSite=Lax)."""
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", secure=secure, httponly=True,
                        samesite="lax")


def close_session(response: Response, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")

"""Who is asking and may they: a service client by its API key, or a logged-in account by its session cookie (the
account as the permission checks see it), and the check itself through the Casbin model (r2/p2/m2 of policy.conf).
Below both edges: the JSON API and the portal ask here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from authz.errors import Forbidden, Unauthorized
from authz.policy import OPERATOR_SCOPE, account_lines, permitted
from authz.state import state
from authz.values import kvk

SESSION_COOKIE = "authz_session"
MAX_KNOWN_KEYS = 1024

__all__ = ["OPERATOR_SCOPE", "SESSION_COOKIE", "Actor", "check_permission", "client_address", "close_session",
           "current_actor", "may", "open_session", "require", "require_operator", "require_path_org", "service_client"]


@dataclass(frozen=True)
class Actor:
    """A logged-in account, as the permission checks see it."""

    id: int
    email: str
    org: str | None
    status: str
    roles: frozenset[str]
    session_hash: str = ""
    org_name: str | None = None

    def lines(self) -> list[tuple[str, ...]]:
        """This account's role lines in the Casbin model."""
        return account_lines(self.email, self.org, self.status, self.roles)


def may(actor: Actor, action: str, scope: str) -> bool:
    """Whether ``actor`` may do ``action`` in ``scope`` (an organisation's KvK, or the operator scope)."""
    return permitted(actor.lines(), actor.email, scope, action)


def check_permission(actor: Actor, action: str, scope: str) -> None:
    """403 ``forbidden`` unless ``actor`` may do ``action`` in ``scope``."""
    if not may(actor, action, scope):
        raise Forbidden("forbidden", "You may not do that for this organisation.")


def client_address(request: Request) -> str:
    """The client address that log-in throttling counts (API and portal alike). The peer's address, not
    X-Forwarded-For: a header the client writes itself would let it pick a fresh address for every guess."""
    return request.client.host if request.client is not None else "unknown"


def service_client(request: Request) -> str:
    """The name of the service client whose API key the request carries (401 otherwise). No SQL: keys are in memory.

    The digest of a header value that once carried a valid key is remembered, so a check hashes nothing; the key
    itself is looked up afresh every time, so a revoked key stops working at once.
    """
    st = state(request)
    raw = next((v for k, v in request.scope["headers"] if k == b"authorization"), b"")
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


async def current_actor(request: Request) -> Actor:
    """The account whose session cookie the request carries (401 ``not_logged_in`` otherwise)."""
    from authz.cache import sessions  # here, not at the top: it builds Actors, so it imports this module

    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("not_logged_in", "Log in first.")
    st = state(request)
    actor = await run_in_threadpool(sessions.actor, st.db, st.sessions, token)
    if actor is None:
        raise Unauthorized("not_logged_in", "The session has ended; log in again.")
    return actor


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

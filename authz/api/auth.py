"""Who is asking over HTTP: a service client by API key, or a logged-in account by session cookie; and may they?"""

from __future__ import annotations

import hashlib

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authz.cache import sessions
from authz.errors import Unauthorized
from authz.identity import SESSION_COOKIE, Actor, check_permission
from authz.policy import OPERATOR_SCOPE
from authz.state import State

MAX_KNOWN_KEYS = 1024


def state(request: Request) -> State:
    st: State = request.scope["app"].authz
    return st


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
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("not_logged_in", "Log in first.")
    st = state(request)

    actor = await run_in_threadpool(sessions.actor, st.db, st.sessions, token)
    if actor is None:
        raise Unauthorized("not_logged_in", "The session has ended; log in again.")
    return actor


async def require(request: Request, action: str, scope: str) -> Actor:
    actor = await current_actor(request)
    check_permission(actor, action, scope)
    return actor


async def require_operator(request: Request, action: str) -> Actor:
    return await require(request, action, OPERATOR_SCOPE)

"""Point-in-time review for the operator and beheerders: who could see a product on a day, and why; one user's history.

Both read the audit trail (no decider, no hot path): ``GET /v1/products/{code}/users`` comes here when it carries
``at`` or is asked with a session instead of a service key (:func:`authz.api.decisions.product_users`).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authz import values
from authz.actor import OPERATOR_SCOPE, Actor, check_permission, may
from authz.api.http import JSONResponse
from authz.api.openapi import Operation, obj
from authz.api.product_users import PRODUCT_USERS_AT, cursor_encode
from authz.api.shapes import NO_QUERY
from authz.errors import Forbidden, Invalid
from authz.identity import current_actor, service_client
from authz.policyfile import history, review
from authz.policyfile.model import utc_text
from authz.state import state


def _is_operator(actor: Actor) -> bool:
    return may(actor, "operator.audit", OPERATOR_SCOPE)


async def product_users_at(request: Request) -> JSONResponse:
    """Who could view the product for the afnemer at ``at`` (default: now), with the grant, contract and mandate.

    A service client and the operator see every row; a beheerder sees the rows of its own organisation's users, for
    its own organisation as afnemer or for an afnemer that gave it a mandate.
    """
    st = state(request)
    # Who is asking comes first: a caller without a key or a session learns nothing of what it sent (401).
    actor: Actor | None = None  # None: a service client
    if request.headers.get("authorization"):
        service_client(request)
    else:
        actor = await current_actor(request)
    q = PRODUCT_USERS_AT.parse(request.query_params)  # the same paging as the live answer
    product = values.code(request.path_params["code"], "code")
    afnemer = q.get("afnemer")
    at, day = q["at"] if "at" in q else (st.clock.now(), st.clock.today())
    limit, after = q["limit"], q.get("cursor")
    own: str | None = None  # a beheerder's organisation: only its users' rows
    if actor is not None and not _is_operator(actor):
        check_permission(actor, "audit.read", actor.org or OPERATOR_SCOPE)
        if afnemer is None:
            raise Invalid("afnemer_required", "Name the afnemer ('afnemer=') whose users you review.")
        own = actor.org
    state_then = await run_in_threadpool(review.state_for, st.db, afnemer, at)
    # An afnemer that names no organisation (a well-formed KvK number) finds nobody (R13), as an unknown product
    # does; a beheerder asking for it asks for an organisation that gave theirs no mandate: 403, as for any other.
    if own is not None and own != afnemer and (afnemer, own) not in state_then.mandates:
        raise Forbidden("forbidden", "Your organisation does not act for this afnemer.")
    rows = await run_in_threadpool(review.who_could_see, state_then, product, afnemer, day)
    # Pages as the live answer: (user, afnemer) order, the cursor names the last row given (same format).
    shown = [w for w in rows if (own is None or w.org == own) and (after is None or (w.user, w.afnemer) > after)]
    page = shown[:limit]
    cursor = cursor_encode(page[-1].user, page[-1].afnemer) if len(shown) > limit else None
    return JSONResponse({"users": [w.as_dict() for w in page], "cursor": cursor,
                         "at": utc_text(at), "day": day.isoformat(), "revision": st.decider.revision})


async def user_history(request: Request) -> JSONResponse:
    actor = await current_actor(request)
    kvk = values.kvk(request.path_params["kvk"], "kvk")
    if not _is_operator(actor):
        check_permission(actor, "audit.read", kvk)
    NO_QUERY.parse(request.query_params)
    user = values.email(request.path_params["email"], "email")
    entries = await run_in_threadpool(history.user_history, state(request).db, kvk, user)
    return JSONResponse({"email": user, "history": [e.as_dict() for e in entries]})


_STR: dict[str, Any] = {"type": "string"}
_NSTR: dict[str, Any] = {"type": ["string", "null"]}
_CODES = {"type": "array", "items": _STR}

routes = [
    Operation("GET", "/v1/orgs/{kvk}/users/{email}/history", user_history, "userHistory",
              "The history of one user's rights, oldest first: grants added and removed, status and role changes, "
              "with who and when (beheerder of kvk, or the operator).",
              tag="review", auth="session", query=NO_QUERY,
              errors={404: ["unknown_account"], 422: ["invalid_kvk", "invalid_email"]},
              response=obj(["email", "history"], email=_STR, history={"type": "array", "items": obj(
                  ["at", "actor", "action", "revision"], at=_STR, actor=_STR, action=_STR,
                  revision={"type": "integer"}, afnemer=_NSTR, added=_CODES, removed=_CODES,
                  status={"type": ["object", "null"], "properties": {"before": _NSTR, "after": _NSTR}},
                  roles_added=_CODES, roles_removed=_CODES)})),
]

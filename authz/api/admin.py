"""The beheerder's JSON API: users, clients and grants (R2, R9, R15), beheerders (R4, R14), the audit trail (R12).

Every endpoint first checks, through the Casbin model, that the logged-in account is an active beheerder of the
organisation in the path (:func:`authz.identity.require_path_org`); the services then touch only that organisation's
accounts, so another organisation's data answers 403 or 404 and nothing changes. A write returns once this
instance has applied it, so the next /v1/check here already decides by it (R11).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.routing import Route

from authz import values
from authz.api.http import Field, JSONResponse, fields, read_json
from authz.api.openapi import describe, obj
from authz.errors import Invalid
from authz.identity import require_path_org
from authz.service import audit, beheerders, grants, users
from authz.service.commit import after_commit
from authz.state import state
from authz.values import has_control, whole_number

MAX_QUERY = 254


def _params(request: Request, allowed: Collection[str]) -> QueryParams:
    q = request.query_params
    unknown = sorted(set(q) - set(allowed))
    if unknown:
        raise Invalid("unknown_parameter", f"Unknown query parameter(s): {', '.join(unknown)}.")
    too_long = [k for k, v in q.items() if len(v) > MAX_QUERY]
    if too_long:
        raise Invalid("invalid_parameter", f"'{too_long[0]}' may be at most {MAX_QUERY} characters.")
    garbled = [k for k, v in q.items() if has_control(v)]
    if garbled:  # a NUL would reach the database, which refuses it (a 500 where a 4xx belongs)
        raise Invalid("invalid_parameter", f"'{garbled[0]}' may not contain control characters.")
    return q


def _limit(q: QueryParams, default: int, maximum: int) -> int:
    raw = q.get("limit")
    if raw is None:
        return default
    number = whole_number(raw)
    if number is None or not 1 <= number <= maximum:
        raise Invalid("invalid_limit", f"'limit' must be a whole number from 1 to {maximum}.")
    return number


async def _no_body(request: Request) -> None:
    """These writes take no fields: no body, or an empty JSON object (read with the usual type and size checks)."""
    if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return
    fields(await read_json(request, state(request).settings.max_body_bytes), {})


# -- users and clients ----------------------------------------------------------------------------------------

async def list_users(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "users.list")
    q = _params(request, {"q", "cursor", "limit"})
    limit = _limit(q, 500, 1000)
    found = await run_in_threadpool(users.listing, state(request).db, actor, org, q.get("q") or None, q.get("cursor"),
                                    limit)
    return JSONResponse({"users": [u.view() for u in found.items], "cursor": found.cursor})


async def list_clients(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "clients.list")
    _params(request, ())
    found = await run_in_threadpool(users.clients, state(request).db, actor, org)
    return JSONResponse({"clients": [c.view() for c in found]})


# -- grants ---------------------------------------------------------------------------------------------------

async def get_grants(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "grants.read")
    _params(request, ())
    user = values.email(request.path_params["email"], "email")
    return JSONResponse(await run_in_threadpool(grants.overview, state(request).db, actor, org, user))


PUT_GRANTS = {
    "afnemer": Field(values.kvk),
    "products": Field(values.codes),
    "version": Field(values.integer(0), required=False, nullable=True),
}


async def put_grants(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "grants.edit")
    user = values.email(request.path_params["email"], "email")
    st = state(request)
    f = fields(await read_json(request, st.settings.max_body_bytes), PUT_GRANTS)
    saved = await run_in_threadpool(grants.save, st.db, actor, org, user, f["afnemer"], f["products"], f.get("version"),
                             st.settings.base_url)
    applied = await after_commit(st, saved.revision)
    return JSONResponse({"added": saved.added, "removed": saved.removed, "version": saved.version,
                         "revision": saved.revision if saved.revision is not None else applied})


# -- beheerders -----------------------------------------------------------------------------------------------

async def list_beheerders(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "users.list")
    _params(request, ())
    return JSONResponse(await run_in_threadpool(beheerders.listing, state(request).db, actor, org))


async def appoint_beheerder(request: Request) -> JSONResponse:
    return await _change_beheerder(request, "beheerders.appoint", beheerders.appoint)


async def remove_beheerder(request: Request) -> JSONResponse:
    return await _change_beheerder(request, "beheerders.remove", beheerders.remove)


async def _change_beheerder(request: Request, action: str, change: Any) -> JSONResponse:
    """R14 (appoint) or R4/R14 (step down, remove): the answer carries the revision that holds the change."""
    actor, org = await require_path_org(request, action)
    user = values.email(request.path_params["email"], "email")
    await _no_body(request)
    st = state(request)
    outcome = await run_in_threadpool(change, st.db, actor, org, user, st.settings.base_url)
    applied = await after_commit(st, outcome.revision)
    return JSONResponse({**outcome.answer, "revision": applied if outcome.revision is None else outcome.revision})


# -- audit trail ----------------------------------------------------------------------------------------------

def _entry(a: audit.Entry) -> dict[str, Any]:
    return {"at": a.at.isoformat(), "actor": a.actor, "action": a.action, "subject": a.subject,
            "before": a.before, "after": a.after, "revision": a.revision}


async def read_audit(request: Request) -> JSONResponse:
    _, org = await require_path_org(request, "audit.read")
    q = _params(request, {"user", "product", "cursor", "limit"})
    limit = _limit(q, 50, 500)
    cursor = q.get("cursor")
    before_id = whole_number(cursor)
    if cursor is not None and before_id is None:
        raise Invalid("invalid_cursor", "The cursor is not one this service gave out.")
    found = await run_in_threadpool(lambda: audit.trail(state(request).db, org, user=q.get("user") or None,
                                                        product=q.get("product") or None, before_id=before_id,
                                                        limit=limit))
    return JSONResponse({"entries": [_entry(a) for a in found.items], "cursor": found.cursor})


routes = [
    Route("/v1/orgs/{kvk}/users", list_users, methods=["GET"]),
    Route("/v1/orgs/{kvk}/clients", list_clients, methods=["GET"]),
    Route("/v1/orgs/{kvk}/users/{email}/grants", get_grants, methods=["GET"]),
    Route("/v1/orgs/{kvk}/users/{email}/grants", put_grants, methods=["PUT"]),
    Route("/v1/orgs/{kvk}/beheerders", list_beheerders, methods=["GET"]),
    Route("/v1/orgs/{kvk}/beheerders/{email}", appoint_beheerder, methods=["PUT"]),
    Route("/v1/orgs/{kvk}/beheerders/{email}", remove_beheerder, methods=["DELETE"]),
    Route("/v1/orgs/{kvk}/audit", read_audit, methods=["GET"]),
]

# -- OpenAPI --------------------------------------------------------------------------------------------------

_STR = {"type": "string"}
_CODES = {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"}}
_BY_AFNEMER = {"type": "object", "additionalProperties": _CODES, "description": "afnemer KvK number -> codes"}
_NAMES = {"type": "object", "additionalProperties": _STR}
_CURSOR = {"type": ["string", "null"], "description": "pass as ?cursor= for the next page; null on the last"}
_BEHEERDERS = obj(["beheerders", "revision"], revision={"type": "integer"},
                  beheerders={"type": "array", "items": obj(["email", "name"], email=_STR, name=_STR)},
                  advice=obj(["code", "message"], code={"const": "appoint_second_beheerder"}, message=_STR))

describe("get", "/v1/orgs/{kvk}/users", "The organisation's accounts (the overview), searchable by e-mail or name.",
         auth="session", query={"q": {"type": "string", "description": "part of the e-mail or name, any case"},
                                "cursor": _STR, "limit": {"type": "integer", "minimum": 1, "maximum": 1000}},
         response=obj(["users", "cursor"], cursor=_CURSOR, users={"type": "array", "items": obj(
             ["email", "name", "status", "roles", "lapsed"], email=_STR, name=_STR,
             status={"enum": list(users.STATUSES)}, roles={"type": "array", "items": _STR},
             lapsed={"type": "boolean", "description": "approved, but its activation link ran out (R8)"})}))
describe("get", "/v1/orgs/{kvk}/clients",
         "R15: the afnemers this intermediair acts for under a mandate valid today, with the products it may offer.",
         auth="session", response=obj(["clients"], clients={"type": "array", "items": obj(
             ["kvk", "name", "products"], kvk=_STR, name=_STR, products=_CODES)}))
describe("get", "/v1/orgs/{kvk}/users/{email}/grants",
         "One user's grants, the products a beheerder may tick per afnemer (R2), and the inert grants (R1).",
         auth="session", response=obj(
             ["grants", "selectable", "version"], email=_STR, grants=_BY_AFNEMER, selectable=_BY_AFNEMER,
             inert={**_BY_AFNEMER, "description": "grants whose contract or mandate lapsed: kept, but give nothing"},
             version={"type": "integer"}, organisations=_NAMES, products=_NAMES))
describe("put", "/v1/orgs/{kvk}/users/{email}/grants",
         "Replace the ticked products of one user for one afnemer (R2); one e-mail to the user (R9); 409 when "
         "'version' is stale. Effective for /v1/check on this instance when it returns.",
         auth="session", request=obj(["afnemer", "products"], afnemer={"type": "string", "pattern": "^[0-9]{8}$"},
                                     products=_CODES, version={"type": ["integer", "null"], "minimum": 0}),
         response=obj(["added", "removed", "revision", "version"], added=_CODES, removed=_CODES,
                      revision={"type": "integer"}, version={"type": "integer"}))
describe("get", "/v1/orgs/{kvk}/beheerders", "The organisation's active beheerders, with advice when only one.",
         auth="session", response=obj(["beheerders"], beheerders=_BEHEERDERS["properties"]["beheerders"],
                                      advice=_BEHEERDERS["properties"]["advice"]))
describe("put", "/v1/orgs/{kvk}/beheerders/{email}", "R14: appoint an active account of the organisation beheerder.",
         auth="session", request=obj([]), response=_BEHEERDERS)
describe("delete", "/v1/orgs/{kvk}/beheerders/{email}",
         "R14: remove a beheerder or step down; 409 'last_beheerder' for the last active one (R4).",
         auth="session", response=_BEHEERDERS)
describe("get", "/v1/orgs/{kvk}/audit",
         "R12: the organisation's audit trail, newest first. 'user' keeps entries by or about accounts whose "
         "e-mail contains it; 'product' keeps entries naming that product code in their subject or before/after.",
         auth="session", query={"user": _STR, "product": _STR, "cursor": _STR,
                                "limit": {"type": "integer", "minimum": 1, "maximum": 500}},
         response=obj(["entries", "cursor"], cursor=_CURSOR, entries={"type": "array", "items": obj(
             ["at", "actor", "action", "subject", "before", "after", "revision"], at={"type": "string",
             "format": "date-time"}, actor=_STR, action=_STR, subject=_STR, before={}, after={},
             revision={"type": "integer"})}))

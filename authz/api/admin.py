"""The beheerder's JSON API: users, clients and grants (R2, R9, R15), beheerders (R4, R14), the audit trail (R12).

Every endpoint first checks, through the Casbin model, that the logged-in account is an active beheerder of the
organisation in the path (:func:`authz.identity.require_path_org`), or for the accounts and beheerders the operator
(R18: policy.conf, ``operator:org``); the services then touch only that organisation's
accounts, so another organisation's data answers 403 or 404 and nothing changes. A write returns once this
instance has applied it, so the next /v1/check here already decides by it (R11).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authz import values
from authz.api import shapes
from authz.api.http import JSONResponse, read_json
from authz.api.openapi import Operation, obj
from authz.api.shapes import NO_FIELDS, NO_QUERY, Body, Query
from authz.domain.grants import Refusal
from authz.identity import require_path_org
from authz.service import audit, beheerders, grants, users
from authz.service.commit import after_commit
from authz.state import state

MAX_QUERY = 254


USERS = Query(q=shapes.search(MAX_QUERY).with_schema(description="part of the e-mail or name, any case"),
              cursor=shapes.search(MAX_QUERY).with_schema(description="the e-mail of the last account given"),
              limit=shapes.limit(500, 1000))
AUDIT = Query(user=shapes.search(MAX_QUERY).with_schema(description="by or about accounts whose e-mail contains it"),
              product=shapes.search(MAX_QUERY).with_schema(description="entries naming this product code"),
              cursor=shapes.ID_CURSOR, limit=shapes.limit(50, 500))
PUT_GRANTS = Body(afnemer=shapes.KVK, products=shapes.CODES, version=shapes.integer(0).optional())



async def _no_body(request: Request) -> None:
    """These writes take no fields: no body, or an empty JSON object (read with the usual type and size checks)."""
    if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return
    NO_FIELDS.parse(await read_json(request, state(request).settings.max_body_bytes))


# -- users and clients ----------------------------------------------------------------------------------------

async def list_users(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "users.list")
    q = USERS.parse(request.query_params)
    found = await run_in_threadpool(users.listing, state(request).db, actor, org, q.get("q") or None, q.get("cursor"),
                                    q["limit"])
    return JSONResponse({"users": [u.view() for u in found.items], "cursor": found.cursor})


async def get_user(request: Request) -> JSONResponse:
    """One account of the organisation (the beheerder's, or the operator's: R18); 404 for any other."""
    actor, org = await require_path_org(request, "users.list")
    NO_QUERY.parse(request.query_params)
    user = values.email(request.path_params["email"], "email")
    found = await run_in_threadpool(users.person, state(request).db, actor, org, user)
    return JSONResponse(found.view())


async def list_clients(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "clients.list")
    NO_QUERY.parse(request.query_params)
    found = await run_in_threadpool(users.clients, state(request).db, actor, org)
    return JSONResponse({"clients": [c.view() for c in found]})


# -- grants ---------------------------------------------------------------------------------------------------

async def get_grants(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "grants.read")
    NO_QUERY.parse(request.query_params)
    user = values.email(request.path_params["email"], "email")
    overview = await run_in_threadpool(grants.overview, state(request).db, actor, org, user)
    overview["lapsed"] = {afnemer: {p: {"reason": why, "last_day": until} for p, (why, until) in products.items()}
                          for afnemer, products in overview["lapsed"].items()}
    return JSONResponse(overview)


async def put_grants(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "grants.edit")
    user = values.email(request.path_params["email"], "email")
    st = state(request)
    f = PUT_GRANTS.parse(await read_json(request, st.settings.max_body_bytes))
    saved = await run_in_threadpool(grants.save, st.db, actor, org, user, f["afnemer"], f["products"], f.get("version"),
                                    st.settings.base_url)
    applied = await after_commit(st, saved.revision)
    return JSONResponse({"added": saved.added, "removed": saved.removed, "version": saved.version,
                         "revision": saved.revision if saved.revision is not None else applied})


# -- beheerders -----------------------------------------------------------------------------------------------

async def list_beheerders(request: Request) -> JSONResponse:
    actor, org = await require_path_org(request, "users.list")
    NO_QUERY.parse(request.query_params)
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
    q = AUDIT.parse(request.query_params)
    found = await run_in_threadpool(lambda: audit.trail(state(request).db, org, user=q.get("user") or None,
                                                        product=q.get("product") or None, before_id=q.get("cursor"),
                                                        limit=q["limit"]))
    return JSONResponse({"entries": [_entry(a) for a in found.items], "cursor": found.cursor})


# -- OpenAPI --------------------------------------------------------------------------------------------------

_STR = {"type": "string"}
_CODES = {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"}}
_BY_AFNEMER = {"type": "object", "additionalProperties": _CODES, "description": "afnemer KvK number -> codes"}
_NAMES = {"type": "object", "additionalProperties": _STR}
_WHY = obj(["reason", "last_day"], reason={"type": "string", "enum": [r.value for r in Refusal]},
           last_day={"type": ["string", "null"], "format": "date",
                     "description": "the last day of the contract or mandate that ran out (null when it has none)"})
_LAPSED = {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": _WHY},
           "description": "afnemer KvK number -> product code -> why that inert grant gives nothing (R1)"}
_CURSOR = {"type": ["string", "null"], "description": "pass as ?cursor= for the next page; null on the last"}
_BEHEERDERS = obj(["beheerders", "revision"], revision={"type": "integer"},
                  beheerders={"type": "array", "items": obj(["email", "name"], email=_STR, name=_STR)},
                  advice=obj(["code", "message"], code={"const": "appoint_second_beheerder"}, message=_STR))

_ONE_USER = obj(["email", "name", "status", "roles", "lapsed"], email=_STR, name=_STR,
                status={"enum": list(users.STATUSES)}, roles={"type": "array", "items": _STR},
                lapsed={"type": "boolean", "description": "approved, but its activation link ran out (R8)"})

_TAG = "beheerder"
_ORG = {422: ["invalid_kvk"]}
_USER = {404: ["unknown_account"], 422: ["invalid_kvk", "invalid_email"]}
routes = [
    Operation("GET", "/v1/orgs/{kvk}/users", list_users, "listUsers", "The organisation's accounts (the overview), "
              "searchable by e-mail or name.", tag=_TAG, auth="session", query=USERS, errors=_ORG,
              response=obj(["users", "cursor"], cursor=_CURSOR, users={"type": "array", "items": _ONE_USER})),
    Operation("GET", "/v1/orgs/{kvk}/users/{email}", get_user, "getUser", "One account of the organisation: "
              "its name, status and roles (for its beheerders and the operator, R18).", tag=_TAG, auth="session",
              query=NO_QUERY, errors=_USER, response=_ONE_USER),
    Operation("GET", "/v1/orgs/{kvk}/clients", list_clients, "listClients", "R15: the afnemers this intermediair "
              "acts for under a mandate valid today, with the products it may offer.", tag=_TAG, auth="session",
              query=NO_QUERY, errors=_ORG, response=obj(["clients"], clients={"type": "array", "items": obj(
                  ["kvk", "name", "products"], kvk=_STR, name=_STR, products=_CODES)})),
    Operation("GET", "/v1/orgs/{kvk}/users/{email}/grants", get_grants, "getGrants", "One user's grants, the "
              "products a beheerder may tick per afnemer (R2), and the inert grants (R1).", tag=_TAG,
              auth="session", query=NO_QUERY, errors=_USER, response=obj(
                  ["grants", "selectable", "version"], email=_STR, grants=_BY_AFNEMER, selectable=_BY_AFNEMER,
                  inert={**_BY_AFNEMER, "description": "grants whose contract or mandate lapsed: kept, but give "
                                                       "nothing"},
                  lapsed=_LAPSED, version={"type": "integer"}, organisations=_NAMES, products=_NAMES)),
    Operation("PUT", "/v1/orgs/{kvk}/users/{email}/grants", put_grants, "putGrants", "Replace the ticked products "
              "of one user for one afnemer (R2); one e-mail to the user (R9); 409 when 'version' is stale. "
              "Effective for /v1/check on this instance when it returns.", tag=_TAG, auth="session",
              body=PUT_GRANTS, errors={**_USER, 409: ["stale_version"], 422: [*_USER[422], "afnemer_not_selectable",
                                                                               "not_selectable"]},
              response=obj(["added", "removed", "revision", "version"], added=_CODES, removed=_CODES,
                           revision={"type": "integer"}, version={"type": "integer"})),
    Operation("GET", "/v1/orgs/{kvk}/beheerders", list_beheerders, "listBeheerders", "The organisation's active "
              "beheerders, with advice when only one.", tag=_TAG, auth="session", query=NO_QUERY, errors=_ORG,
              response=obj(["beheerders"], beheerders=_BEHEERDERS["properties"]["beheerders"],
                           advice=_BEHEERDERS["properties"]["advice"])),
    Operation("PUT", "/v1/orgs/{kvk}/beheerders/{email}", appoint_beheerder, "appointBeheerder", "R14: appoint an "
              "active account of the organisation beheerder.", tag=_TAG, auth="session", body=NO_FIELDS,
              errors={**_USER, 422: [*_USER[422], "account_not_active"]}, response=_BEHEERDERS),
    Operation("DELETE", "/v1/orgs/{kvk}/beheerders/{email}", remove_beheerder, "removeBeheerder", "R14: remove a "
              "beheerder or step down; 409 'last_beheerder' for the last active one (R4).", tag=_TAG,
              auth="session", errors={**_USER, 404: ["unknown_account", "not_beheerder"], 409: ["last_beheerder"]},
              response=_BEHEERDERS),
    Operation("GET", "/v1/orgs/{kvk}/audit", read_audit, "readAudit", "R12: the organisation's audit trail, newest "
              "first. 'user' keeps entries by or about accounts whose e-mail contains it; 'product' keeps entries "
              "naming that product code in their subject or before/after.", tag=_TAG, auth="session", query=AUDIT,
              errors=_ORG, response=obj(["entries", "cursor"], cursor=_CURSOR, entries={"type": "array",
                                                                                          "items": obj(
                  ["at", "actor", "action", "subject", "before", "after", "revision"],
                  at={"type": "string", "format": "date-time"}, actor=_STR, action=_STR, subject=_STR, before={},
                  after={}, revision={"type": "integer"})})),
]


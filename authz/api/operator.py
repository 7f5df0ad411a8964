"""The operator's catalogue: organisations, products, contracts and mandates (SPEC §4; R3, R12).

The use cases are :mod:`authz.service.catalogue`'s, as in the portal. Before answering, this instance applies the
new revision, so the change holds for /v1/check at once (R11); the answer carries that ``revision``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from authz.api.http import Field, JSONResponse, fields, read_json
from authz.api.openapi import describe, obj
from authz.errors import Invalid
from authz.identity import require_operator
from authz.service import catalogue as service
from authz.service import emails
from authz.service.commit import after_commit
from authz.state import state
from authz.values import code, codes, domains, has_control, iso_day, kvk, text, whole_number

MAX_LIMIT = 500


def _org_domains(request: Request) -> Callable[[Any, str], list[str]]:
    """The JSON field: a list of strings (checked here, at the edge), then the rule of :func:`emails.org_domains`."""
    free = state(request).settings.free_mail_domains
    return lambda value, name: emails.org_domains(domains(value, name), free, name)


def _query(request: Request, allowed: set[str]) -> dict[str, str]:
    q = dict(request.query_params)
    unknown = sorted(set(q) - allowed)
    if unknown:
        raise Invalid("unknown_parameter", f"Unknown query parameter(s): {', '.join(unknown)}.")
    return q


# -- organisations ---------------------------------------------------------------------------------------------

async def create_org(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.organisations")
    body = await read_json(request)
    f = fields(body, {"kvk": Field(kvk), "name": Field(text(200)),
                      "domains": Field(_org_domains(request), required=False, nullable=True)})
    st = state(request)
    done = await run_in_threadpool(service.create_org, st.db, actor.email, f["kvk"], f["name"],
                                             f.get("domains") or [])
    await after_commit(st, done.revision)
    return JSONResponse({**done.answer, "revision": done.revision}, status_code=201)


async def list_orgs(request: Request) -> JSONResponse:
    await require_operator(request, "operator.organisations")
    q = _query(request, {"q", "cursor", "limit"})
    search = q.get("q", "").strip()
    if len(search) > 200 or has_control(search):
        raise Invalid("invalid_parameter", "'q' is at most 200 characters of text.")
    after = kvk(q["cursor"], "cursor") if "cursor" in q else None
    limit = 100
    if "limit" in q:
        n = whole_number(q["limit"])
        if n is None or not 1 <= n <= MAX_LIMIT:
            raise Invalid("invalid_limit", f"'limit' must be a whole number from 1 to {MAX_LIMIT}.")
        limit = n
    found = await run_in_threadpool(service.find_orgs, state(request).db, search or None, after, limit)
    return JSONResponse({"organisations": found.items, "cursor": found.cursor})


async def get_org(request: Request) -> JSONResponse:
    await require_operator(request, "operator.organisations")
    number = kvk(request.path_params["kvk"], "kvk")
    return JSONResponse(await run_in_threadpool(service.org, state(request).db, number))


async def org_contracts(request: Request) -> JSONResponse:
    await require_operator(request, "operator.contracts")
    number = kvk(request.path_params["kvk"], "kvk")
    return JSONResponse({"contracts": await run_in_threadpool(service.contracts, state(request).db, number)})


async def org_mandates(request: Request) -> JSONResponse:
    await require_operator(request, "operator.mandates")
    number = kvk(request.path_params["kvk"], "kvk")
    return JSONResponse(await run_in_threadpool(service.mandates, state(request).db, number))


# -- products --------------------------------------------------------------------------------------------------

async def create_product(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.products")
    body = await read_json(request)
    f = fields(body, {"code": Field(code), "name": Field(text(200)),
                      "description": Field(text(5000, min_len=0), required=False, nullable=True)})
    st = state(request)
    done = await run_in_threadpool(service.create_product, st.db, actor.email, f["code"], f["name"],
                                             f.get("description") or "")
    await after_commit(st, done.revision)
    return JSONResponse({**done.answer, "revision": done.revision}, status_code=201)


async def list_products(request: Request) -> JSONResponse:
    await require_operator(request, "operator.products")
    _query(request, set())
    return JSONResponse({"products": await run_in_threadpool(service.products, state(request).db)})


# -- contracts and mandates ------------------------------------------------------------------------------------

_WINDOW = {"valid_from": Field(iso_day, required=False, nullable=True),
           "valid_until": Field(iso_day, required=False, nullable=True)}


async def put_contract(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.contracts")
    afnemer = kvk(request.path_params["kvk"], "kvk")
    product = code(request.path_params["code"], "code")
    f = fields(await read_json(request), _WINDOW)
    st = state(request)
    done = await run_in_threadpool(service.put_contract, st.db, actor.email, afnemer, product,
                                             f.get("valid_from"), f.get("valid_until"))
    await after_commit(st, done.revision)
    return JSONResponse({**done.answer, "revision": done.revision})


async def end_contract(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.contracts")
    afnemer = kvk(request.path_params["kvk"], "kvk")
    product = code(request.path_params["code"], "code")
    st = state(request)
    done = await run_in_threadpool(service.end_contract, st.db, actor.email, afnemer, product)
    await after_commit(st, done.revision)
    return JSONResponse({**done.answer, "revision": done.revision})


async def put_mandate(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.mandates")
    afnemer = kvk(request.path_params["afnemer_kvk"], "afnemer_kvk")
    intermediair = kvk(request.path_params["intermediair_kvk"], "intermediair_kvk")
    f = fields(await read_json(request), {**_WINDOW, "products": Field(codes, required=False, nullable=True)})
    st = state(request)
    done = await run_in_threadpool(service.put_mandate, st.db, actor.email, afnemer, intermediair,
                                             f.get("products"), f.get("valid_from"), f.get("valid_until"))
    await after_commit(st, done.revision)
    return JSONResponse({**done.answer, "revision": done.revision})


async def end_mandate(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.mandates")
    afnemer = kvk(request.path_params["afnemer_kvk"], "afnemer_kvk")
    intermediair = kvk(request.path_params["intermediair_kvk"], "intermediair_kvk")
    st = state(request)
    done = await run_in_threadpool(service.end_mandate, st.db, actor.email, afnemer, intermediair)
    await after_commit(st, done.revision)
    return JSONResponse({**done.answer, "revision": done.revision})


routes = [
    Route("/v1/operator/organisations", create_org, methods=["POST"]),
    Route("/v1/operator/organisations", list_orgs, methods=["GET"]),
    Route("/v1/operator/organisations/{kvk}", get_org, methods=["GET"]),
    Route("/v1/operator/organisations/{kvk}/contracts", org_contracts, methods=["GET"]),
    Route("/v1/operator/organisations/{kvk}/mandates", org_mandates, methods=["GET"]),
    Route("/v1/operator/products", create_product, methods=["POST"]),
    Route("/v1/operator/products", list_products, methods=["GET"]),
    Route("/v1/operator/contracts/{kvk}/{code}", put_contract, methods=["PUT"]),
    Route("/v1/operator/contracts/{kvk}/{code}", end_contract, methods=["DELETE"]),
    Route("/v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}", put_mandate, methods=["PUT"]),
    Route("/v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}", end_mandate, methods=["DELETE"]),
]

# -- schemas ---------------------------------------------------------------------------------------------------

_KVK = {"type": "string", "pattern": "^[0-9]{8}$"}
_CODE = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"}
_DAY = {"type": ["string", "null"], "format": "date"}
_REV = {"type": "integer"}
_ORG = {"kvk": _KVK, "name": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "verified"]},
        "domains": {"type": "array", "items": {"type": "string"}}}
_PRODUCT = {"code": _CODE, "name": {"type": "string"}, "description": {"type": "string"}}
_CONTRACT = {"afnemer": _KVK, "product": _CODE, "valid_from": {"type": "string", "format": "date"},
             "valid_until": _DAY, "valid_today": {"type": "boolean"}}
_MANDATE = {"afnemer": _KVK, "intermediair": _KVK, "valid_from": {"type": "string", "format": "date"},
            "valid_until": _DAY, "products": {"type": ["array", "null"], "items": _CODE},
            "valid_today": {"type": "boolean"}}
_LIST_MANDATES = {"type": "array", "items": obj(list(_MANDATE), **_MANDATE)}

describe("post", "/v1/operator/organisations", "Register a (verified) organisation; 409 if it exists.",
         auth="session", status=201,
         request=obj(["kvk", "name"], kvk=_KVK, name={"type": "string", "maxLength": 200},
                     domains={"type": ["array", "null"], "items": {"type": "string"}}),
         response=obj([*_ORG, "revision"], **_ORG, revision=_REV))
describe("get", "/v1/operator/organisations", "Organisations in KvK order; 'q' searches KvK number and name.",
         auth="session", query={"q": {"type": "string"}, "cursor": _KVK,
                                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
         response=obj(["organisations", "cursor"], cursor={"type": ["string", "null"]},
                      organisations={"type": "array", "items": obj(list(_ORG), **_ORG)}))
describe("get", "/v1/operator/organisations/{kvk}", "One organisation.", auth="session",
         response=obj(list(_ORG), **_ORG))
describe("get", "/v1/operator/organisations/{kvk}/contracts", "The organisation's contracts (as afnemer).",
         auth="session", response=obj(["contracts"], contracts={
             "type": "array", "items": obj(list(_CONTRACT), **_CONTRACT)}))
describe("get", "/v1/operator/organisations/{kvk}/mandates",
         "Mandates the organisation gave (as afnemer) and holds (as intermediair).", auth="session",
         response=obj(["given", "held"], given=_LIST_MANDATES, held=_LIST_MANDATES))
describe("post", "/v1/operator/products", "Add a product; 409 if the code exists.", auth="session", status=201,
         request=obj(["code", "name"], code=_CODE, name={"type": "string", "maxLength": 200},
                     description={"type": ["string", "null"], "maxLength": 5000}),
         response=obj([*_PRODUCT, "revision"], **_PRODUCT, revision=_REV))
describe("get", "/v1/operator/products", "Every product.", auth="session",
         response=obj(["products"], products={"type": "array", "items": obj(list(_PRODUCT), **_PRODUCT)}))
describe("put", "/v1/operator/contracts/{kvk}/{code}",
         "Start a contract or change its dates (valid_from absent: today). Grants nobody anything (R3).",
         auth="session", request=obj([], valid_from=_DAY, valid_until=_DAY),
         response=obj([*_CONTRACT, "revision"], **_CONTRACT, revision=_REV))
describe("delete", "/v1/operator/contracts/{kvk}/{code}",
         "End a contract: grants resting on it become inert, and stay until a beheerder removes them.",
         auth="session", response=obj(["afnemer", "product", "ended", "revision"], afnemer=_KVK, product=_CODE,
                                      ended={"const": True}, revision=_REV))
describe("put", "/v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}",
         "Start a mandate or change it; 'products' absent means all of the afnemer's products.", auth="session",
         request=obj([], valid_from=_DAY, valid_until=_DAY,
                     products={"type": ["array", "null"], "items": _CODE, "minItems": 1}),
         response=obj([*_MANDATE, "revision"], **_MANDATE, revision=_REV))
describe("delete", "/v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}", "End a mandate.", auth="session",
         response=obj(["afnemer", "intermediair", "ended", "revision"], afnemer=_KVK, intermediair=_KVK,
                      ended={"const": True}, revision=_REV))

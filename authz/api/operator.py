"""The operator's catalogue: organisations, products, contracts and mandates (SPEC §4; R3, R12).

Every change is one transaction through :mod:`authz.store.catalogue` (change, audit and change event together).
Before answering, this instance applies the new revision, so the change holds for /v1/check at once (R11); the
answer carries that ``revision``. A new contract grants nobody anything and sends no e-mail (R3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from authz.api.auth import require_operator, state
from authz.api.http import Field, JSONResponse, fields, read_json
from authz.api.openapi import describe, obj
from authz.errors import Invalid
from authz.identity import Actor
from authz.service import emails
from authz.store import catalogue
from authz.store.db import Tx
from authz.values import code, codes, domains, has_control, iso_day, kvk, text, whole_number

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_LIMIT = 500


async def _write(request: Request, actor: Actor, work: Callable[[Tx], T]) -> tuple[T, int]:
    """Run ``work`` in one transaction of ``actor``, then let this instance apply the new revision."""
    st = state(request)

    def run() -> tuple[T, int]:
        with st.db.tx(actor=actor.email) as t:
            result = work(t)
        return result, t.revision

    result, revision = await run_in_threadpool(run)
    try:
        # Applied here before the answer, and announced to the other instances (R11).
        await st.sync.committed(revision)
    except Exception as exc:  # committed all the same: the periodic poll applies it once SQL answers again
        log.warning("applying revision %s after an operator change failed: %s", revision, exc)
    return result, revision


async def _read(request: Request, work: Callable[[Session], T]) -> T:
    st = state(request)

    def run() -> T:
        with st.db.read() as s:
            return work(s)

    return await run_in_threadpool(run)


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
    view, revision = await _write(request, actor, lambda t: catalogue.org_view(
        catalogue.create_org(t, f["kvk"], f["name"], f.get("domains") or [])))
    return JSONResponse({**view, "revision": revision}, status_code=201)


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
    # One more than asked: whether a next page exists.
    orgs = await _read(request, lambda s: [catalogue.org_view(o)
                                           for o in catalogue.find_orgs(s, search or None, after, limit + 1)])
    cursor = orgs[limit - 1]["kvk"] if len(orgs) > limit else None
    return JSONResponse({"organisations": orgs[:limit], "cursor": cursor})


async def get_org(request: Request) -> JSONResponse:
    await require_operator(request, "operator.organisations")
    number = kvk(request.path_params["kvk"], "kvk")

    return JSONResponse(await _read(request, lambda s: catalogue.org_view(catalogue.read_org(s, number))))


async def org_contracts(request: Request) -> JSONResponse:
    await require_operator(request, "operator.contracts")
    number = kvk(request.path_params["kvk"], "kvk")
    today = state(request).clock.today()

    def work(s: Session) -> list[dict[str, Any]]:
        catalogue.read_org(s, number)
        return [catalogue.contract_view(c, today) for c in catalogue.contracts_of(s, number)]

    return JSONResponse({"contracts": await _read(request, work)})


async def org_mandates(request: Request) -> JSONResponse:
    await require_operator(request, "operator.mandates")
    number = kvk(request.path_params["kvk"], "kvk")
    today = state(request).clock.today()

    def work(s: Session) -> dict[str, list[dict[str, Any]]]:
        catalogue.read_org(s, number)
        given, held = catalogue.mandates_of(s, number)
        return {"given": [catalogue.mandate_view(m, today) for m in given],
                "held": [catalogue.mandate_view(m, today) for m in held]}

    return JSONResponse(await _read(request, work))


# -- products --------------------------------------------------------------------------------------------------

async def create_product(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.products")
    body = await read_json(request)
    f = fields(body, {"code": Field(code), "name": Field(text(200)),
                      "description": Field(text(5000, min_len=0), required=False, nullable=True)})
    view, revision = await _write(request, actor, lambda t: catalogue.product_view(
        catalogue.create_product(t, f["code"], f["name"], f.get("description") or "")))
    return JSONResponse({**view, "revision": revision}, status_code=201)


async def list_products(request: Request) -> JSONResponse:
    await require_operator(request, "operator.products")
    _query(request, set())
    products = await _read(request, lambda s: [catalogue.product_view(p) for p in catalogue.all_products(s)])
    return JSONResponse({"products": products})


# -- contracts and mandates ------------------------------------------------------------------------------------

def _window(request: Request, f: dict[str, Any]) -> tuple[date, date | None]:
    """``valid_from`` absent means today in Europe/Amsterdam (SPEC §1); ``valid_until`` absent means open."""
    valid_from: date = f.get("valid_from") or state(request).clock.today()
    valid_until: date | None = f.get("valid_until")
    if valid_until is not None and valid_until < valid_from:
        raise Invalid("invalid_dates", "'valid_until' lies before 'valid_from'.")
    return valid_from, valid_until


_WINDOW = {"valid_from": Field(iso_day, required=False, nullable=True),
           "valid_until": Field(iso_day, required=False, nullable=True)}


async def put_contract(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.contracts")
    afnemer = kvk(request.path_params["kvk"], "kvk")
    product = code(request.path_params["code"], "code")
    f = fields(await read_json(request), _WINDOW)
    valid_from, valid_until = _window(request, f)
    today = state(request).clock.today()
    view, revision = await _write(request, actor, lambda t: catalogue.contract_view(
        catalogue.put_contract(t, afnemer, product, valid_from, valid_until), today))
    return JSONResponse({**view, "revision": revision})


async def end_contract(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.contracts")
    afnemer = kvk(request.path_params["kvk"], "kvk")
    product = code(request.path_params["code"], "code")
    _, revision = await _write(request, actor, lambda t: catalogue.end_contract(t, afnemer, product))
    return JSONResponse({"afnemer": afnemer, "product": product, "ended": True, "revision": revision})


async def put_mandate(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.mandates")
    afnemer = kvk(request.path_params["afnemer_kvk"], "afnemer_kvk")
    intermediair = kvk(request.path_params["intermediair_kvk"], "intermediair_kvk")
    f = fields(await read_json(request), {**_WINDOW, "products": Field(codes, required=False, nullable=True)})
    products: list[str] | None = f.get("products")
    if products is not None and not products:
        raise Invalid("invalid_field", "'products' names no product; leave it out for all of them, or end the "
                                       "mandate with DELETE.")
    valid_from, valid_until = _window(request, f)
    today = state(request).clock.today()
    view, revision = await _write(request, actor, lambda t: catalogue.mandate_view(
        catalogue.put_mandate(t, afnemer, intermediair, products, valid_from, valid_until), today))
    return JSONResponse({**view, "revision": revision})


async def end_mandate(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.mandates")
    afnemer = kvk(request.path_params["afnemer_kvk"], "afnemer_kvk")
    intermediair = kvk(request.path_params["intermediair_kvk"], "intermediair_kvk")
    _, revision = await _write(request, actor, lambda t: catalogue.end_mandate(t, afnemer, intermediair))
    return JSONResponse({"afnemer": afnemer, "intermediair": intermediair, "ended": True, "revision": revision})


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

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

from authz.api import shapes
from authz.api.auth import require_operator, state
from authz.api.http import JSONResponse, read_json
from authz.api.openapi import Operation, obj
from authz.api.shapes import NO_QUERY, Body, Query
from authz.errors import Invalid
from authz.identity import Actor
from authz.service import emails
from authz.store import catalogue
from authz.store.db import Tx
from authz.values import code, kvk

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


NEW_ORG = Body(kvk=shapes.KVK, name=shapes.text(200), domains=shapes.DOMAINS.optional())
ORGS = Query(q=shapes.search(200).with_schema(description="part of the KvK number or the name"),
             cursor=shapes.KVK_PARAM.with_schema(description="the KvK number of the last organisation given"),
             limit=shapes.limit(100, MAX_LIMIT))
NEW_PRODUCT = Body(code=shapes.CODE, name=shapes.text(200), description=shapes.text(5000, min_len=0).optional())
WINDOW = Body(valid_from=shapes.DAY.optional(), valid_until=shapes.DAY.optional())
MANDATE = Body(**WINDOW.fields, products=shapes.CODES.with_schema(minItems=1).optional())


# -- organisations ---------------------------------------------------------------------------------------------

async def create_org(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.organisations")
    f = NEW_ORG.parse(await read_json(request))
    # The JSON field is a list of strings (checked by the shape), then the rule of emails.org_domains.
    org_domains = emails.org_domains(f.get("domains") or [], state(request).settings.free_mail_domains)
    view, revision = await _write(request, actor, lambda t: catalogue.org_view(
        catalogue.create_org(t, f["kvk"], f["name"], org_domains)))
    return JSONResponse({**view, "revision": revision}, status_code=201)


async def list_orgs(request: Request) -> JSONResponse:
    await require_operator(request, "operator.organisations")
    q = ORGS.parse(request.query_params)
    search, after, limit = q.get("q", "").strip(), q.get("cursor"), q["limit"]
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
    f = NEW_PRODUCT.parse(await read_json(request))
    view, revision = await _write(request, actor, lambda t: catalogue.product_view(
        catalogue.create_product(t, f["code"], f["name"], f.get("description") or "")))
    return JSONResponse({**view, "revision": revision}, status_code=201)


async def list_products(request: Request) -> JSONResponse:
    await require_operator(request, "operator.products")
    NO_QUERY.parse(request.query_params)
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


async def put_contract(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.contracts")
    afnemer = kvk(request.path_params["kvk"], "kvk")
    product = code(request.path_params["code"], "code")
    f = WINDOW.parse(await read_json(request))
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
    f = MANDATE.parse(await read_json(request))
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

_TAG = "operator"
_ORG_PATH = {404: ["unknown_organisation"], 422: ["invalid_kvk"]}
_CONTRACT_PATH = {404: ["unknown_organisation", "unknown_product", "unknown_contract"],
                  422: ["invalid_kvk", "invalid_product_code"]}
_MANDATE_PATH = {404: ["unknown_organisation", "unknown_mandate"], 422: ["invalid_kvk"]}
routes = [
    Operation("POST", "/v1/operator/organisations", create_org, "createOrganisation", "Register a (verified) "
              "organisation; 409 if it exists.", tag=_TAG, auth="session", status=201, body=NEW_ORG,
              errors={409: ["organisation_exists"], 422: ["invalid_domain", "free_mail_domain"]},
              response=obj([*_ORG, "revision"], **_ORG, revision=_REV)),
    Operation("GET", "/v1/operator/organisations", list_orgs, "listOrganisations", "Organisations in KvK order; 'q' "
              "searches KvK number and name.", tag=_TAG, auth="session", query=ORGS,
              response=obj(["organisations", "cursor"], cursor={"type": ["string", "null"]},
                           organisations={"type": "array", "items": obj(list(_ORG), **_ORG)})),
    Operation("GET", "/v1/operator/organisations/{kvk}", get_org, "getOrganisation", "One organisation.", tag=_TAG,
              auth="session", errors=_ORG_PATH, response=obj(list(_ORG), **_ORG)),
    Operation("GET", "/v1/operator/organisations/{kvk}/contracts", org_contracts, "listOrganisationContracts",
              "The organisation's contracts (as afnemer).", tag=_TAG, auth="session", errors=_ORG_PATH,
              response=obj(["contracts"], contracts={"type": "array", "items": obj(list(_CONTRACT), **_CONTRACT)})),
    Operation("GET", "/v1/operator/organisations/{kvk}/mandates", org_mandates, "listOrganisationMandates",
              "Mandates the organisation gave (as afnemer) and holds (as intermediair).", tag=_TAG, auth="session",
              errors=_ORG_PATH, response=obj(["given", "held"], given=_LIST_MANDATES, held=_LIST_MANDATES)),
    Operation("POST", "/v1/operator/products", create_product, "createProduct", "Add a product; 409 if the code "
              "exists.", tag=_TAG, auth="session", status=201, body=NEW_PRODUCT, errors={409: ["product_exists"]},
              response=obj([*_PRODUCT, "revision"], **_PRODUCT, revision=_REV)),
    Operation("GET", "/v1/operator/products", list_products, "listProducts", "Every product.", tag=_TAG,
              auth="session", query=NO_QUERY,
              response=obj(["products"], products={"type": "array", "items": obj(list(_PRODUCT), **_PRODUCT)})),
    Operation("PUT", "/v1/operator/contracts/{kvk}/{code}", put_contract, "putContract", "Start a contract or "
              "change its dates (valid_from absent: today). Grants nobody anything (R3).", tag=_TAG,
              auth="session", body=WINDOW, errors={**_CONTRACT_PATH, 422: [*_CONTRACT_PATH[422], "invalid_dates"]},
              response=obj([*_CONTRACT, "revision"], **_CONTRACT, revision=_REV)),
    Operation("DELETE", "/v1/operator/contracts/{kvk}/{code}", end_contract, "endContract", "End a contract: grants "
              "resting on it become inert, and stay until a beheerder removes them.", tag=_TAG, auth="session",
              errors=_CONTRACT_PATH, response=obj(["afnemer", "product", "ended", "revision"], afnemer=_KVK,
                                                  product=_CODE, ended={"const": True}, revision=_REV)),
    Operation("PUT", "/v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}", put_mandate, "putMandate", "Start a "
              "mandate or change it; 'products' absent means all of the afnemer's products.", tag=_TAG,
              auth="session", body=MANDATE, errors={**_MANDATE_PATH, 422: ["invalid_kvk", "invalid_dates"]},
              response=obj([*_MANDATE, "revision"], **_MANDATE, revision=_REV)),
    Operation("DELETE", "/v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}", end_mandate, "endMandate",
              "End a mandate.", tag=_TAG, auth="session", errors=_MANDATE_PATH,
              response=obj(["afnemer", "intermediair", "ended", "revision"], afnemer=_KVK, intermediair=_KVK,
                           ended={"const": True}, revision=_REV)),
]

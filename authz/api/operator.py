"""The operator's catalogue: organisations, products, contracts and mandates (SPEC §4; R3, R12).

The use cases are :mod:`authz.service.catalogue`'s, as in the portal. Before answering, this instance applies the
new revision, so the change holds for /v1/check at once (R11); the answer carries that ``revision``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authz.api import shapes
from authz.api.http import JSONResponse, read_json
from authz.api.openapi import Operation, obj
from authz.api.shapes import NO_QUERY, Body, Query
from authz.identity import require_operator
from authz.service import catalogue as service
from authz.service import emails
from authz.service.catalogue import KEEP
from authz.service.commit import after_commit
from authz.service.results import Done
from authz.state import state
from authz.values import code, kvk

MAX_LIMIT = 500


NEW_ORG = Body(kvk=shapes.KVK, name=shapes.text(200), domains=shapes.DOMAINS.optional())
EDIT_ORG = Body(name=shapes.text(200).optional(nullable=False), domains=shapes.DOMAINS.optional(nullable=False))
ORGS = Query(q=shapes.search(200).with_schema(description="part of the KvK number or the name"),
             cursor=shapes.KVK_PARAM.with_schema(description="the KvK number of the last organisation given"),
             limit=shapes.limit(100, MAX_LIMIT))
NEW_PRODUCT = Body(code=shapes.CODE, name=shapes.text(200),
                   description=shapes.text(5000, min_len=0, lines=True).optional(),
                   url=shapes.URL.optional().with_schema(description="R16: where a gebruiker finds the product "
                                                                     "(https only); null or absent: no link"))
PRODUCT_CHANGE = Body(name=shapes.text(200).optional(nullable=False),
                      description=shapes.text(5000, min_len=0, lines=True).optional(nullable=False),
                      url=NEW_PRODUCT.fields["url"])
WINDOW = Body(valid_from=shapes.DAY.optional(), valid_until=shapes.DAY.optional())
MANDATE = Body(**WINDOW.fields, products=shapes.CODES.with_schema(minItems=1).optional())


async def _change(request: Request, use_case: Callable[..., Done], *args: Any, status: int = 200) -> JSONResponse:
    """Run one of the operator's use cases, apply and announce what it committed, and answer with its view and the
    revision that holds it."""
    st = state(request)
    done = await run_in_threadpool(use_case, st.db, *args)
    applied = await after_commit(st, done.revision or None)
    return JSONResponse({**done.answer, "revision": done.revision or applied}, status_code=status)


# -- organisations ---------------------------------------------------------------------------------------------

async def create_org(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.organisations")
    f = NEW_ORG.parse(await read_json(request))
    # The JSON field is a list of strings (checked by the shape), then the rule of emails.org_domains.
    org_domains = emails.org_domains(f.get("domains") or [], state(request).settings.free_mail_domains)
    return await _change(request, service.create_org, actor.email, f["kvk"], f["name"], org_domains, status=201)


async def edit_org(request: Request) -> JSONResponse:
    """R18: the operator renames an organisation or replaces its e-mail domains; what the body leaves out stays."""
    actor = await require_operator(request, "operator.organisations")
    number = kvk(request.path_params["kvk"], "kvk")
    f = EDIT_ORG.parse(await read_json(request))
    org_domains = (emails.org_domains(f["domains"], state(request).settings.free_mail_domains) if "domains" in f
                   else None)
    return await _change(request, service.update_org, actor.email, number, f.get("name"), org_domains)


async def list_orgs(request: Request) -> JSONResponse:
    await require_operator(request, "operator.organisations")
    q = ORGS.parse(request.query_params)
    found = await run_in_threadpool(service.find_orgs, state(request).db, q.get("q", "").strip() or None,
                                    q.get("cursor"), q["limit"])
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
    f = NEW_PRODUCT.parse(await read_json(request))
    return await _change(request, service.create_product, actor.email,
                         f["code"], f["name"], f.get("description") or "", f.get("url"), status=201)


async def put_product(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.products")
    product = code(request.path_params["code"], "code")
    f = PRODUCT_CHANGE.parse(await read_json(request))
    return await _change(request, service.put_product, actor.email, product, f)


async def list_products(request: Request) -> JSONResponse:
    await require_operator(request, "operator.products")
    NO_QUERY.parse(request.query_params)
    return JSONResponse({"products": await run_in_threadpool(service.products, state(request).db)})


# -- contracts and mandates ------------------------------------------------------------------------------------



async def put_contract(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.contracts")
    afnemer = kvk(request.path_params["kvk"], "kvk")
    product = code(request.path_params["code"], "code")
    f = WINDOW.parse(await read_json(request))
    return await _change(request, service.put_contract, actor.email,
                         afnemer, product, f.get("valid_from", KEEP), f.get("valid_until", KEEP))


async def end_contract(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.contracts")
    afnemer = kvk(request.path_params["kvk"], "kvk")
    product = code(request.path_params["code"], "code")
    return await _change(request, service.end_contract, actor.email, afnemer, product)


async def put_mandate(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.mandates")
    afnemer = kvk(request.path_params["afnemer_kvk"], "afnemer_kvk")
    intermediair = kvk(request.path_params["intermediair_kvk"], "intermediair_kvk")
    f = MANDATE.parse(await read_json(request))
    return await _change(request, service.put_mandate, actor.email, afnemer, intermediair,
                         f.get("products", KEEP), f.get("valid_from", KEEP), f.get("valid_until", KEEP))


async def end_mandate(request: Request) -> JSONResponse:
    actor = await require_operator(request, "operator.mandates")
    afnemer = kvk(request.path_params["afnemer_kvk"], "afnemer_kvk")
    intermediair = kvk(request.path_params["intermediair_kvk"], "intermediair_kvk")
    return await _change(request, service.end_mandate, actor.email, afnemer, intermediair)


# -- schemas ---------------------------------------------------------------------------------------------------

_KVK = {"type": "string", "pattern": "^[0-9]{8}$"}
_CODE = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"}
_DAY = {"type": ["string", "null"], "format": "date"}
_REV = {"type": "integer"}
_ORG = {"kvk": _KVK, "name": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "verified"]},
        "domains": {"type": "array", "items": {"type": "string"}}}
_PRODUCT = {"code": _CODE, "name": {"type": "string"}, "description": {"type": "string"},
            "url": {"type": ["string", "null"], "format": "uri"}}
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
    Operation("PATCH", "/v1/operator/organisations/{kvk}", edit_org, "editOrganisation", "R18: rename an "
              "organisation or replace its e-mail domains (R10); a field left out stays as it is. Audited as the "
              "operator's.", tag=_TAG, auth="session", body=EDIT_ORG,
              errors={**_ORG_PATH, 422: ["invalid_kvk", "invalid_domain", "free_mail_domain"]},
              response=obj([*_ORG, "revision"], **_ORG, revision=_REV)),
    Operation("GET", "/v1/operator/organisations/{kvk}/contracts", org_contracts, "listOrganisationContracts",
              "The organisation's contracts (as afnemer).", tag=_TAG, auth="session", errors=_ORG_PATH,
              response=obj(["contracts"], contracts={"type": "array", "items": obj(list(_CONTRACT), **_CONTRACT)})),
    Operation("GET", "/v1/operator/organisations/{kvk}/mandates", org_mandates, "listOrganisationMandates",
              "Mandates the organisation gave (as afnemer) and holds (as intermediair).", tag=_TAG, auth="session",
              errors=_ORG_PATH, response=obj(["given", "held"], given=_LIST_MANDATES, held=_LIST_MANDATES)),
    Operation("POST", "/v1/operator/products", create_product, "createProduct", "Add a product; 409 if the code "
              "exists.", tag=_TAG, auth="session", status=201, body=NEW_PRODUCT, errors={409: ["product_exists"]},
              response=obj([*_PRODUCT, "revision"], **_PRODUCT, revision=_REV)),
    Operation("PUT", "/v1/operator/products/{code}", put_product, "putProduct", "Change a product's name, "
              "description or link (url: https only, null removes it); the fields left out stay as they are.",
              tag=_TAG, auth="session", body=PRODUCT_CHANGE,
              errors={404: ["unknown_product"], 422: ["invalid_product_code"]},
              response=obj([*_PRODUCT, "revision"], **_PRODUCT, revision=_REV)),
    Operation("GET", "/v1/operator/products", list_products, "listProducts", "Every product.", tag=_TAG,
              auth="session", query=NO_QUERY,
              response=obj(["products"], products={"type": "array", "items": obj(list(_PRODUCT), **_PRODUCT)})),
    Operation("PUT", "/v1/operator/contracts/{kvk}/{code}", put_contract, "putContract", "Start a contract or "
              "change its dates. A field left out keeps its value (a new contract: valid_from today, open-ended); "
              "valid_until null: open-ended. Grants nobody anything (R3).", tag=_TAG,
              auth="session", body=WINDOW, errors={**_CONTRACT_PATH, 422: [*_CONTRACT_PATH[422], "invalid_dates"]},
              response=obj([*_CONTRACT, "revision"], **_CONTRACT, revision=_REV)),
    Operation("DELETE", "/v1/operator/contracts/{kvk}/{code}", end_contract, "endContract", "End a contract at once: "
              "its last day becomes yesterday (also for one that started today), and it stays listed as ended. "
              "Grants resting on it become inert, and stay until a beheerder removes them.", tag=_TAG,
              auth="session", errors=_CONTRACT_PATH, response=obj([*_CONTRACT, "revision"], **_CONTRACT,
                                                                   revision=_REV)),
    Operation("PUT", "/v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}", put_mandate, "putMandate", "Start a "
              "mandate or change it. A field left out keeps its value (a new mandate: from today, open-ended, all "
              "products); 'products' null: all of the afnemer's products; valid_until null: open-ended; "
              "'products' [] is refused (end a mandate with DELETE).", tag=_TAG,
              auth="session", body=MANDATE,
              errors={404: [*_MANDATE_PATH[404], "unknown_product"], 422: ["invalid_kvk", "invalid_dates",
                                                                           "invalid_mandate"]},
              response=obj([*_MANDATE, "revision"], **_MANDATE, revision=_REV)),
    Operation("DELETE", "/v1/operator/mandates/{afnemer_kvk}/{intermediair_kvk}", end_mandate, "endMandate",
              "End a mandate at once: its last day becomes yesterday (also for one that started today), and it "
              "stays listed as ended.", tag=_TAG, auth="session", errors=_MANDATE_PATH,
              response=obj([*_MANDATE, "revision"], **_MANDATE, revision=_REV)),
]

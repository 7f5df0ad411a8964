"""The operator's screens: first accounts and unknown organisations to verify (R5), products, organisations, and
per organisation its contracts and mandates (R3, R12).

Requests go through :mod:`authz.service.accounts` as ``/v1/operator/requests`` does; catalogue changes are one
transaction of :mod:`authz.store.catalogue` each, as in :mod:`authz.api.operator`, and this instance applies the
new revision before the page answers (R11).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard
from admin_ui.org import decision
from admin_ui.web import FormError, attempt, form, render, route, text_field
from authz import values
from authz.api.auth import state
from authz.identity import Actor
from authz.service import accounts as account_service
from authz.service import emails
from authz.store import catalogue
from authz.store.db import Tx

ORG_PAGE = 100


async def _write(request: Request, actor: Actor, work: Callable[[Tx], object], back: str, done: str) -> Response:
    """Run ``work`` as one transaction of the operator; then back to ``back`` with ``done`` or the error."""
    st = state(request)

    def run() -> None:
        with st.db.tx(actor=actor.email) as t:
            work(t)

    return await attempt(request, back, run, lambda _: done)


def _day(data: FormData, name: str) -> date | None:
    raw = text_field(data, name, required=False, max_len=10)
    return values.iso_day(raw, name) if raw else None


def _window(request: Request, data: FormData) -> tuple[date, date | None]:
    valid_from = _day(data, "valid_from") or state(request).clock.today()
    valid_until = _day(data, "valid_until")
    if valid_until is not None and valid_until < valid_from:
        raise FormError("invalid_dates", "De einddatum ligt voor de ingangsdatum.")
    return valid_from, valid_until


# -- requests (R5) ---------------------------------------------------------------------------------------------

async def requests_page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.requests")
    rows = await run_in_threadpool(account_service.operator_requests, state(request).db)
    for r in rows:
        r.update(created=r["created_at"][:10], name="", kind="registration")
    return render(request, "requests.html", {**guard.frame(actor, "op-aanvragen", "Te controleren aanvragen"),
                                             "requests": rows, "operator": True, "base": "/operator/aanvragen"})


async def _decide(request: Request, approve: bool) -> Response:
    actor = await guard.operator(request, "operator.requests")
    st = state(request)
    number, reason = await decision(request)
    said = ("goedgekeurd: de organisatie is gecontroleerd en de aanvrager wordt beheerder" if approve
            else "afgewezen")
    return await attempt(request, "/operator/aanvragen",
                         lambda: account_service.operator_decide(st.db, st.settings, actor.email, number, approve,
                                                                 reason),
                         lambda view: f"De aanvraag van {view['email']} is {said}. De aanvrager krijgt hierover "
                                      f"een e-mail.")


async def approve(request: Request) -> Response:
    return await _decide(request, True)


async def reject(request: Request) -> Response:
    return await _decide(request, False)


# -- products --------------------------------------------------------------------------------------------------

async def products_page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.products")
    st = state(request)

    def read() -> list[dict[str, Any]]:
        with st.db.read() as s:
            return [catalogue.product_view(p) for p in catalogue.all_products(s)]

    return render(request, "op_products.html", {**guard.frame(actor, "op-producten", "Producten"),
                                                "products": await run_in_threadpool(read)})


async def add_product(request: Request) -> Response:
    actor = await guard.operator(request, "operator.products")
    data = await form(request)
    code = values.code(text_field(data, "code", max_len=63), "code")
    name = text_field(data, "name", max_len=200)
    description = text_field(data, "description", required=False, max_len=5000)
    return await _write(request, actor, lambda t: catalogue.create_product(t, code, name, description),
                        "/operator/producten", f"Product {name} ({code}) is toegevoegd.")


# -- organisations ---------------------------------------------------------------------------------------------

async def orgs_page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.organisations")
    st = state(request)
    q = values.search_text(request.query_params.get("q", ""), 200)

    def read() -> list[dict[str, Any]]:
        with st.db.read() as s:
            return [catalogue.org_view(o) for o in catalogue.find_orgs(s, q or None, None, ORG_PAGE)]

    return render(request, "op_orgs.html", {**guard.frame(actor, "op-organisaties", "Organisaties"),
                                            "orgs": await run_in_threadpool(read), "q": q, "limit": ORG_PAGE})


async def add_org(request: Request) -> Response:
    actor = await guard.operator(request, "operator.organisations")
    data = await form(request)
    number = values.kvk(text_field(data, "kvk", max_len=8), "kvk")
    name = text_field(data, "name", max_len=200)
    raw_domains = text_field(data, "domains", required=False, max_len=2000)
    domains = emails.org_domains(raw_domains.replace(",", " ").split(), state(request).settings.free_mail_domains)
    return await _write(request, actor, lambda t: catalogue.create_org(t, number, name, domains),
                        f"/operator/organisaties/{number}", f"Organisatie {name} ({number}) is geregistreerd.")


async def org_page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.contracts")
    st = state(request)
    number = values.kvk(request.path_params["kvk"], "kvk")
    today = st.clock.today()

    def read() -> dict[str, Any]:
        with st.db.read() as s:
            org = catalogue.org_view(catalogue.read_org(s, number))
            contracts = [catalogue.contract_view(c, today) for c in catalogue.contracts_of(s, number)]
            given, held = catalogue.mandates_of(s, number)
            products = [catalogue.product_view(p) for p in catalogue.all_products(s)]
            names = catalogue.org_names(s, [*(m.intermediair for m in given), *(m.afnemer for m in held)])
            return {"org": org, "contracts": contracts, "products": products, "names": names,
                    "given": [catalogue.mandate_view(m, today) for m in given],
                    "held": [catalogue.mandate_view(m, today) for m in held]}

    found = await run_in_threadpool(read)
    return render(request, "op_org.html", {**guard.frame(actor, "op-organisaties", found["org"]["name"]), **found})


async def put_contract(request: Request) -> Response:
    actor = await guard.operator(request, "operator.contracts")
    number = values.kvk(request.path_params["kvk"], "kvk")
    data = await form(request)
    product = values.code(text_field(data, "product", max_len=63), "product")
    valid_from, valid_until = _window(request, data)
    return await _write(request, actor, lambda t: catalogue.put_contract(t, number, product, valid_from, valid_until),
                        f"/operator/organisaties/{number}",
                        f"Het contract voor {product} geldt vanaf {valid_from.isoformat()}"
                        f"{' tot en met ' + valid_until.isoformat() if valid_until else ''}. Niemand krijgt hierdoor "
                        f"automatisch toegang: een beheerder koppelt het product.")


async def end_contract(request: Request) -> Response:
    actor = await guard.operator(request, "operator.contracts")
    number = values.kvk(request.path_params["kvk"], "kvk")
    product = values.code(request.path_params["code"], "code")
    return await _write(request, actor, lambda t: catalogue.end_contract(t, number, product),
                        f"/operator/organisaties/{number}",
                        f"Het contract voor {product} is beëindigd. Koppelingen die erop rustten geven geen toegang "
                        f"meer en blijven gemarkeerd zichtbaar tot een beheerder ze verwijdert.")


async def put_mandate(request: Request) -> Response:
    actor = await guard.operator(request, "operator.mandates")
    afnemer = values.kvk(request.path_params["kvk"], "kvk")
    data = await form(request)
    intermediair = values.kvk(text_field(data, "intermediair", max_len=8), "intermediair")
    chosen = [values.code(v, "product") for v in data.getlist("product")]
    products = sorted(set(chosen)) or None  # none ticked: all of the afnemer's products
    valid_from, valid_until = _window(request, data)
    return await _write(request, actor,
                        lambda t: catalogue.put_mandate(t, afnemer, intermediair, products, valid_from, valid_until),
                        f"/operator/organisaties/{afnemer}",
                        f"De opdracht aan {intermediair} geldt vanaf {valid_from.isoformat()}.")


async def end_mandate(request: Request) -> Response:
    actor = await guard.operator(request, "operator.mandates")
    afnemer = values.kvk(request.path_params["kvk"], "kvk")
    intermediair = values.kvk(request.path_params["intermediair"], "intermediair")
    return await _write(request, actor, lambda t: catalogue.end_mandate(t, afnemer, intermediair),
                        f"/operator/organisaties/{quote(afnemer)}", f"De opdracht aan {intermediair} is beëindigd.")


routes = [
    route("/operator/aanvragen", requests_page),
    route("/operator/aanvragen/{id}/goedkeuren", approve, "POST"),
    route("/operator/aanvragen/{id}/afwijzen", reject, "POST"),
    route("/operator/producten", products_page),
    route("/operator/producten", add_product, "POST"),
    route("/operator/organisaties", orgs_page),
    route("/operator/organisaties", add_org, "POST"),
    route("/operator/organisaties/{kvk}", org_page),
    route("/operator/organisaties/{kvk}/contracten", put_contract, "POST"),
    route("/operator/organisaties/{kvk}/contracten/{code}/beeindigen", end_contract, "POST"),
    route("/operator/organisaties/{kvk}/opdrachten", put_mandate, "POST"),
    route("/operator/organisaties/{kvk}/opdrachten/{intermediair}/beeindigen", end_mandate, "POST"),
]

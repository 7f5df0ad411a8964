"""The operator's screens: first accounts and unknown organisations to verify (R5), products, organisations, and
per organisation its contracts and mandates (R3, R12), its accounts, and the reset of an account's lost second
factor (R17) behind a confirmation page.

Requests go through :mod:`authz.service.accounts` as ``/v1/operator/requests`` does, the catalogue through
:mod:`authz.service.catalogue` as ``/v1/operator/…`` does; this instance applies the new revision before the page
answers (R11).
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard, texts
from admin_ui.org import decision
from admin_ui.web import attempt, form, render, route, text_field
from authz import values
from authz.service import accounts as account_service
from authz.service import catalogue, emails, mfa, users
from authz.service.catalogue import KEEP, Kept
from authz.service.results import Done
from authz.state import state

ORG_PAGE = 100
ACCOUNTS_PAGE = 200  # an organisation's accounts on its page; more are said to be there


def _day(data: FormData, name: str) -> date | None:
    raw = text_field(data, name, required=False, max_len=10)
    return values.iso_day(raw, name) if raw else None


def _start(data: FormData) -> date | Kept:
    """The start date of the contract and mandate forms: left empty, an existing one keeps its start (a new one
    starts today), as a PUT without ``valid_from`` does."""
    return _day(data, "valid_from") or KEEP


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
    return render(request, "op_products.html", {**guard.frame(actor, "op-producten", "Producten"),
                                                "products": await run_in_threadpool(catalogue.products,
                                                                                    state(request).db)})


async def add_product(request: Request) -> Response:
    actor = await guard.operator(request, "operator.products")
    data = await form(request)
    code = values.code(text_field(data, "code", max_len=63), "code")
    name = text_field(data, "name", max_len=200)
    description = text_field(data, "description", required=False, max_len=5000, lines=True)
    st = state(request)
    return await attempt(request, "/operator/producten",
                         lambda: catalogue.create_product(st.db, actor.email, code, name, description),
                         lambda _: f"Product {name} ({code}) is toegevoegd.")


# -- organisations ---------------------------------------------------------------------------------------------

async def orgs_page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.organisations")
    q = values.search_text(request.query_params.get("q", ""), 200)
    found = await run_in_threadpool(catalogue.find_orgs, state(request).db, q or None, None, ORG_PAGE)
    return render(request, "op_orgs.html", {**guard.frame(actor, "op-organisaties", "Organisaties"),
                                            "orgs": found.items, "q": q, "limit": ORG_PAGE})


async def add_org(request: Request) -> Response:
    actor = await guard.operator(request, "operator.organisations")
    data = await form(request)
    number = values.kvk(text_field(data, "kvk", max_len=8), "kvk")
    name = text_field(data, "name", max_len=200)
    raw_domains = text_field(data, "domains", required=False, max_len=2000)
    st = state(request)
    domains = emails.org_domains(raw_domains.replace(",", " ").split(), st.settings.free_mail_domains)
    return await attempt(request, f"/operator/organisaties/{number}",
                         lambda: catalogue.create_org(st.db, actor.email, number, name, domains),
                         lambda _: f"Organisatie {name} ({number}) is geregistreerd.")


async def org_page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.contracts")
    st = state(request)
    number = values.kvk(request.path_params["kvk"], "kvk")
    found = await run_in_threadpool(catalogue.overview, st.db, number)
    products = await run_in_threadpool(catalogue.products, st.db)
    members = await run_in_threadpool(users.listing, st.db, actor.email, number, None, None, ACCOUNTS_PAGE)
    with_factor = await run_in_threadpool(mfa.enrolled_in, st.db, number)
    return render(request, "op_org.html", {**guard.frame(actor, "op-organisaties", found.org["name"]),
                                           "org": found.org, "contracts": found.contracts, "given": found.given,
                                           "held": found.held, "names": found.names, "products": products,
                                           "accounts": members.items, "more_accounts": members.cursor is not None,
                                           "with_factor": with_factor})


async def put_contract(request: Request) -> Response:
    actor = await guard.operator(request, "operator.contracts")
    number = values.kvk(request.path_params["kvk"], "kvk")
    data = await form(request)
    product = values.code(text_field(data, "product", max_len=63), "product")
    valid_from, valid_until = _start(data), _day(data, "valid_until")
    st = state(request)

    def done(saved: Done) -> str:
        view = saved.answer
        until = f" tot en met {view['valid_until']}" if view["valid_until"] else ""
        return (f"Het contract voor {product} geldt vanaf {view['valid_from']}{until}. Niemand krijgt hierdoor "
                f"automatisch toegang: een beheerder koppelt het product.")

    return await attempt(request, f"/operator/organisaties/{number}",
                         lambda: catalogue.put_contract(st.db, actor.email, number, product, valid_from, valid_until),
                         done)


async def end_contract(request: Request) -> Response:
    actor = await guard.operator(request, "operator.contracts")
    number = values.kvk(request.path_params["kvk"], "kvk")
    product = values.code(request.path_params["code"], "code")
    st = state(request)
    return await attempt(request, f"/operator/organisaties/{number}",
                         lambda: catalogue.end_contract(st.db, actor.email, number, product),
                         lambda _: f"Het contract voor {product} is beëindigd. Koppelingen die erop rustten geven "
                                   f"geen toegang meer en blijven gemarkeerd zichtbaar tot een beheerder ze "
                                   f"verwijdert.")


async def put_mandate(request: Request) -> Response:
    actor = await guard.operator(request, "operator.mandates")
    afnemer = values.kvk(request.path_params["kvk"], "kvk")
    data = await form(request)
    intermediair = values.kvk(text_field(data, "intermediair", max_len=8), "intermediair")
    chosen = [values.code(v, "product") for v in data.getlist("product")]
    # None ticked is how the form says null: all of the afnemer's products (the service refuses an empty list).
    products = sorted(set(chosen)) or None
    valid_from, valid_until = _start(data), _day(data, "valid_until")
    st = state(request)
    return await attempt(request, f"/operator/organisaties/{afnemer}",
                         lambda: catalogue.put_mandate(st.db, actor.email, afnemer, intermediair, products, valid_from,
                                                       valid_until),
                         lambda saved: f"De opdracht aan {intermediair} geldt vanaf {saved.answer['valid_from']}.")


async def end_mandate(request: Request) -> Response:
    actor = await guard.operator(request, "operator.mandates")
    afnemer = values.kvk(request.path_params["kvk"], "kvk")
    intermediair = values.kvk(request.path_params["intermediair"], "intermediair")
    st = state(request)
    return await attempt(request, f"/operator/organisaties/{quote(afnemer)}",
                         lambda: catalogue.end_mandate(st.db, actor.email, afnemer, intermediair),
                         lambda _: f"De opdracht aan {intermediair} is beëindigd.")


# -- an account's lost second factor (R17) ----------------------------------------------------------------------

def _mfa_target(request: Request) -> tuple[str, str]:
    """(the organisation, the account's e-mail) of the path."""
    return values.kvk(request.path_params["kvk"], "kvk"), values.email(request.path_params["email"], "email")


async def mfa_reset_form(request: Request) -> Response:
    """The confirmation page: which account, what the reset does; the POST form on it does it. Changes nothing."""
    actor = await guard.operator(request, "operator.accounts")
    st = state(request)
    number, email = _mfa_target(request)
    person = await run_in_threadpool(users.person, st.db, actor.email, number, email)  # 404 outside the org
    org = await run_in_threadpool(catalogue.org, st.db, number)
    has_factor = email in await run_in_threadpool(mfa.enrolled_in, st.db, number)
    return render(request, "op_mfa_reset.html", {**guard.frame(actor, "op-organisaties", texts.MFA_RESET_TITLE),
                                                 "org": org, "person": person, "has_factor": has_factor})


async def mfa_reset(request: Request) -> Response:
    """The operator removes the account's second factor (:func:`authz.service.mfa.reset`: audited, the user is
    e-mailed, the account's sessions end), as ``POST /v1/operator/accounts/{email}/mfa-reset`` does."""
    actor = await guard.operator(request, "operator.accounts")
    st = state(request)
    number, email = _mfa_target(request)
    await run_in_threadpool(users.person, st.db, actor.email, number, email)  # 404 outside the org
    return await attempt(request, f"/operator/organisaties/{number}",
                         lambda: mfa.reset(st.db, st.sessions, actor.email, email),
                         lambda _: texts.mfa_reset_done(email))


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
    route("/operator/organisaties/{kvk}/accounts/{email}/tweede-factor-herstellen", mfa_reset_form),
    route("/operator/organisaties/{kvk}/accounts/{email}/tweede-factor-herstellen", mfa_reset, "POST"),
]

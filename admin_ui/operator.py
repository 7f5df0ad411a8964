"""The operator's screens: first accounts and unknown organisations to verify (R5), products, organisations, and
per organisation its contracts and mandates (R3, R12), its accounts, and the reset of an account's lost second
factor (R17) behind a confirmation page.

Requests go through :mod:`authz.service.accounts` as ``/v1/operator/requests`` does, the catalogue through
:mod:`authz.service.catalogue` as ``/v1/operator/…`` does; this instance applies the new revision before the page
answers (R11).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard, texts
from admin_ui.org import decision, request_id
from admin_ui.web import FormError, attempt, flash, form, message, redirect, render, route, text_field
from authz import values
from authz.actor import Actor
from authz.errors import AuthzError, Invalid, NotFound
from authz.service import accounts as account_service
from authz.service import beheerders, catalogue, emails, mail, members, mfa, users
from authz.service.catalogue import KEEP, Kept
from authz.service.commit import after_commit
from authz.service.results import Done
from authz.state import State, state

ORG_PAGE = 100
MAIL_PAGE = 100
ACCOUNTS_PAGE = 200  # an organisation's accounts on its page; more are said to be there


def _day(data: FormData, name: str) -> date | None:
    raw = text_field(data, name, required=False, max_len=10)
    return values.iso_day(raw, name) if raw else None


def _start(data: FormData) -> date | Kept:
    """The start date of the contract and mandate forms: left empty, an existing one keeps its start (a new one
    starts today), as a PUT without ``valid_from`` does."""
    return _day(data, "valid_from") or KEEP


def _end(data: FormData) -> date | None:
    """The end of the contract and mandate forms: a last day, or the box "Geen einddatum" (None: open-ended). Never
    the result of an empty field: neither or both is a Dutch error on the field."""
    raw = text_field(data, "valid_until", required=False, max_len=10)
    open_ended = "open_ended" in data
    if raw and open_ended:
        raise FormError("invalid_field", texts.about_field("valid_until", texts.END_BOTH), field="valid_until")
    if open_ended:
        return None
    if not raw:
        raise FormError("missing_field", texts.about_field("valid_until", texts.END_MISSING), field="valid_until")
    return values.iso_day(raw, "valid_until")


def _scope(data: FormData) -> list[str] | None:
    """The products of the mandate form: the ticked ones, or the box "Alle producten" (None: all of the afnemer's).
    Nothing ticked is passed on as ``[]``, which the use case refuses as the API's ``products: []`` (422)."""
    chosen = sorted({values.code(v, "product") for v in data.getlist("product")})
    if "all_products" in data:
        if chosen:
            raise FormError("invalid_field", texts.about_field("products", texts.PRODUCTS_BOTH), field="products")
        return None
    return chosen


# -- requests (R5) ---------------------------------------------------------------------------------------------

async def requests_page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.requests")
    rows = await run_in_threadpool(account_service.operator_requests, state(request).db)
    for r in rows:
        r.update(created=texts.dutch_date(r["created_at"]), kind="registration")
    return render(request, "requests.html", {**guard.frame(actor, "op-aanvragen", "Te controleren aanvragen"),
                                             "requests": rows, "operator": True, "base": "/operator/aanvragen"})


async def _open_request(request: Request) -> dict[str, object]:
    """The open request of the path, as the operator's list shows it (404 when it is not open for the operator)."""
    number = request_id(request)
    for r in await run_in_threadpool(account_service.operator_requests, state(request).db):
        if r["id"] == number:
            return r
    raise NotFound("unknown_request", "No such account request.")


async def _request_form(request: Request, approve: bool, typed: str | None = None, error: str = "") -> Response:
    """The confirmation page of an approval (with the organisation's e-mail domains, R10) or a rejection (with the
    optional reason). Changes nothing. A refused approval comes back here with the domains as ``typed`` and the
    ``error`` on their field (422)."""
    actor = await guard.operator(request, "operator.requests")
    r = await _open_request(request)
    title, button, explain = texts.OP_APPROVE if approve else texts.OP_REJECT
    org = await run_in_threadpool(catalogue.org, state(request).db, str(r["kvk"]))
    facts = [("Aanvrager", f"{r['name']} ({r['email']})" if r["name"] else str(r["email"])),
             ("Organisatie", f"{r['organisation_name']} (KvK {r['kvk']})"),
             ("Status organisatie", texts.STATUS.get(str(org["status"]), str(org["status"]))),
             ("Ontvangen", texts.dutch_date(str(r["created_at"])))]
    fields = ([{"name": "domains", "label": "E-maildomeinen van de organisatie (optioneel, gescheiden door spaties)",
                "max": 2000, "value": " ".join(org["domains"]) if typed is None else typed,
                "invalid": bool(error)}] if approve else
              [{"name": "reason", "label": "Reden van afwijzing (optioneel)", "max": 1000, "value": ""}])
    action = f"/operator/aanvragen/{r['id']}/{'goedkeuren' if approve else 'afwijzen'}"
    page = _confirm(request, actor, "op-aanvragen", title, facts, explain, action, button,
                    "/operator/aanvragen", "de aanvragen", fields=fields, danger=not approve, error=error)
    if error:
        page.status_code = 422
    return page


async def approve_form(request: Request) -> Response:
    return await _request_form(request, True)


async def reject_form(request: Request) -> Response:
    return await _request_form(request, False)


async def _decide(request: Request, approve: bool) -> Response:
    actor = await guard.operator(request, "operator.requests")
    st = state(request)
    number, reason = await decision(request)
    domains = None
    if approve:
        data = await form(request)
        try:
            domains = _domains(data, st.settings.free_mail_domains)
            if domains is not None:  # the applicant's address must fall under them (R10), as the use case checks
                emails.check_org_domain(str((await _open_request(request))["email"]), domains)
        except Invalid as exc:
            r = await _open_request(request)
            typed = data.get("domains")
            said = exc.message if isinstance(exc, FormError) else texts.domains_refused(
                exc.code, exc.domain if isinstance(exc, DomainRefused) else "", str(r["email"]))
            return await _request_form(request, True, typed if isinstance(typed, str) else "", said)
    said = ("goedgekeurd: de organisatie is gecontroleerd en de aanvrager wordt beheerder" if approve
            else "afgewezen")
    return await attempt(request, "/operator/aanvragen",
                         lambda: account_service.operator_decide(st.db, st.settings, actor.email, number, approve,
                                                                 reason, domains),
                         lambda view: f"De aanvraag van {view['email']} is {said}. De aanvrager krijgt hierover "
                                      f"een e-mail.")


async def approve(request: Request) -> Response:
    return await _decide(request, True)


async def reject(request: Request) -> Response:
    return await _decide(request, False)


def _domains(data: FormData, free_mail_domains: tuple[str, ...] | frozenset[str]) -> list[str] | None:
    """The e-mail domains typed in a form (spaces or commas between them), by the rule of
    :func:`authz.service.emails.org_domains`; None when the field is left empty. A refusal says which domain
    (:class:`DomainRefused`), for the operator's Dutch text (:func:`admin_ui.texts.domains_refused`)."""
    raw = text_field(data, "domains", required=False, max_len=2000)
    if not raw:
        return None
    typed = raw.replace(",", " ").split()
    for one in typed:  # the first domain the rule refuses, to name it
        try:
            emails.org_domains([one], free_mail_domains)
        except Invalid as exc:
            raise DomainRefused(exc.code, exc.message, one) from None
    return emails.org_domains(typed, free_mail_domains)


class DomainRefused(Invalid):
    """A typed e-mail domain the rule refuses, and which one."""

    def __init__(self, code: str, message: str, domain: str) -> None:
        super().__init__(code, message, field="domains")
        self.domain = domain


def _confirm(request: Request, actor: Actor, section: str, title: str, facts: list[tuple[str, str]], explain: str,
             action: str, button: str, back: str, back_label: str, *, fields: list[dict[str, object]] | None = None,
             danger: bool = True, error: str = "") -> Response:
    """A confirmation page (``confirm.html``, as the beheerder's): what the action touches and does, and the POST
    form that does it (with the portal's CSRF token). Changes nothing, and needs no JavaScript."""
    return render(request, "confirm.html", {**guard.frame(actor, section, title), "facts": facts,
                                            "explanation": explain, "action": action, "button": button,
                                            "back": back, "back_label": f"Terug naar {back_label}",
                                            "inputs": fields or [], "danger": danger, "error": error or None})


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
    raw_url = text_field(data, "url", required=False, max_len=values.MAX_URL)
    st = state(request)
    return await attempt(request, "/operator/producten",
                         lambda: catalogue.create_product(st.db, actor.email, code, name, description,
                                                          values.https_url(raw_url, "url") if raw_url else None),
                         lambda _: f"Product {name} ({code}) is toegevoegd.")


async def set_product_link(request: Request) -> Response:
    """R16: the link a gebruiker is offered for the product (https only; left empty: no link), as ``PUT
    /v1/operator/products/{code}`` with ``url`` does."""
    actor = await guard.operator(request, "operator.products")
    code = values.code(request.path_params["code"], "code")
    data = await form(request)
    raw_url = text_field(data, "url", required=False, max_len=values.MAX_URL)
    st = state(request)
    return await attempt(request, "/operator/producten",
                         lambda: catalogue.put_product(st.db, actor.email, code, {
                             "url": values.https_url(raw_url, "url") if raw_url else None}),
                         lambda done: texts.product_link_set(done.answer["name"], done.answer["url"]))


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
    st = state(request)
    try:
        domains = _domains(data, st.settings.free_mail_domains) or []
    except DomainRefused as exc:
        raise FormError(exc.code, texts.domains_refused(exc.code, exc.domain, ""), field="domains") from None
    return await attempt(request, f"/operator/organisaties/{number}",
                         lambda: catalogue.create_org(st.db, actor.email, number, name, domains),
                         lambda _: f"Organisatie {name} ({number}) is geregistreerd.")


async def org_page(request: Request) -> Response:
    actor = await guard.operator(request, "operator.contracts")
    st = state(request)
    number = values.kvk(request.path_params["kvk"], "kvk")
    found = await run_in_threadpool(catalogue.overview, st.db, number)
    products = await run_in_threadpool(catalogue.products, st.db)
    await guard.for_org(request, "users.list", number)
    listed = await run_in_threadpool(users.listing, st.db, actor.email, number, None, None, ACCOUNTS_PAGE)
    heads = await run_in_threadpool(beheerders.listing, st.db, actor.email, number)
    with_factor = await run_in_threadpool(mfa.enrolled_in, st.db, number)
    return render(request, "op_org.html", {**guard.frame(actor, "op-organisaties", found.org["name"]),
                                           **_terms(found, products), "new_term": NEW_TERM,
                                           "given": found.given, "held": found.held, "products": products,
                                           "accounts": listed.items, "more_accounts": listed.cursor is not None,
                                           "with_factor": with_factor, "beheerders": heads["beheerders"],
                                           "no_beheerder": texts.OP_NO_BEHEERDER if found.org["status"] == "verified"
                                           and listed.items and not heads["beheerders"] else ""})


async def edit_org(request: Request) -> Response:
    """R18: the organisation's name and e-mail domains, as ``PATCH /v1/operator/organisations/{kvk}`` changes
    them (audited as the operator's). Empty domains remove them all."""
    actor = await guard.operator(request, "operator.organisations")
    number = values.kvk(request.path_params["kvk"], "kvk")
    data = await form(request)
    name = text_field(data, "name", max_len=200)
    st = state(request)
    try:
        domains = _domains(data, st.settings.free_mail_domains) or []
    except DomainRefused as exc:
        return flash(request, redirect(f"/operator/organisaties/{number}"),
                     texts.domains_refused(exc.code, exc.domain, ""), "error")
    return await attempt(request, f"/operator/organisaties/{number}",
                         lambda: catalogue.update_org(st.db, actor.email, number, name, domains),
                         lambda done: texts.OP_ORG_SAVED.format(name=done.answer["name"]))


def _org_name(st: State, kvk: str) -> str:
    return catalogue.org_names(st.db, [kvk]).get(kvk, f"KvK {kvk}")


def _named(st: State, afnemer: str, product: str) -> tuple[str, str]:
    """(the afnemer's name, the product's name) for a message about a contract."""
    return _org_name(st, afnemer), catalogue.product_names(st.db, [product]).get(product, product)


@dataclass(frozen=True)
class _Named:
    """A change's result with the names its message uses, looked up in the same worker thread (``revision`` is
    the change's, for :func:`admin_ui.web.attempt` to apply before the page answers)."""

    done: Done
    afnemer: str  # the afnemer's name
    other: str  # the product's name (a contract) or the intermediair's (a mandate)

    @property
    def revision(self) -> int:
        return self.done.revision

    @property
    def last_day(self) -> str | None:
        day: str | None = self.done.answer["valid_until"]
        return day


def _terms(found: catalogue.Overview, products: list[dict[str, Any]]) -> dict[str, Any]:
    """What the contract and mandate forms need besides their values: the organisation, the product names, its
    contracts (the products a mandate can name)."""
    return {"org": found.org, "contracts": found.contracts, "names": found.names,
            "product_names": {str(p["code"]): str(p["name"]) for p in products},
            "free_products": [p for p in products if p["code"] not in {c["product"] for c in found.contracts}]}


# The empty forms of a new contract and a new mandate on the organisation's page: nothing chosen for the operator.
NEW_TERM: dict[str, Any] = {"product": "", "intermediair": "", "exists": False, "valid_from": "", "valid_until": "",
                            "open_ended": False, "products": [], "all_products": False}


def _term_values(x: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    """A contract or mandate as its form shows it: pre-filled with what it is now."""
    products = x.get("products")
    return {key: value, "valid_from": x["valid_from"], "valid_until": x["valid_until"] or "",
            "open_ended": x["valid_until"] is None, "products": list(products or []),
            "all_products": "products" in x and products is None}


def _typed(data: FormData, key: str) -> dict[str, Any]:
    """The form's values as the operator typed them, to show again with an error."""
    def raw(name: str) -> str:
        value = data.get(name)
        return value.strip()[:100] if isinstance(value, str) else ""

    return {key: raw(key), "valid_from": raw("valid_from"), "valid_until": raw("valid_until"),
            "open_ended": "open_ended" in data, "all_products": "all_products" in data,
            "products": [v for v in data.getlist("product") if isinstance(v, str)]}


async def _term_page(request: Request, actor: Actor, kind: str, number: str, term: dict[str, Any],
                     error: str = "", bad: str = "", status: int = 200) -> Response:
    """The form of one contract (``kind`` "contract") or mandate ("mandate") of the organisation, pre-filled with
    ``term``; with ``error`` (and the field ``bad``) as the refused input came back."""
    st = state(request)
    found = await run_in_threadpool(catalogue.overview, st.db, number)
    products = await run_in_threadpool(catalogue.products, st.db)
    ctx = _terms(found, products)
    names = ctx["product_names"]
    if kind == "contract":
        code = str(term["product"])
        existing = any(c["product"] == code for c in found.contracts)
        title = f"Contract voor {names.get(code, code)}" if existing else "Contract afsluiten"
    else:
        other = str(term["intermediair"])
        existing = any(m["intermediair"] == other for m in found.given)
        label = found.names.get(other, other) if existing else ""
        title = f"Opdracht aan {label}" if existing else "Opdracht geven aan een intermediair"
    term = {**term, "exists": existing}
    return render(request, "op_term.html", {**guard.frame(actor, "op-organisaties", title), **ctx, "kind": kind,
                                            "term": term, "error": error or None, "bad": bad}, status)


async def contract_form(request: Request) -> Response:
    """The form of an existing contract, pre-filled with its days (an open-ended one with "Geen einddatum")."""
    return await _term_form(request, "contract", "product", lambda: values.code(request.path_params["code"], "code"))


async def mandate_form(request: Request) -> Response:
    """The form of an existing mandate, pre-filled: its products ticked (or "Alle producten") and its days."""
    return await _term_form(request, "mandate", "intermediair",
                            lambda: values.kvk(request.path_params["intermediair"], "intermediair"))


async def _term_form(request: Request, kind: str, key: str, parse: Callable[[], str]) -> Response:
    """The form of the organisation's contract (``key`` product) or mandate (``key`` intermediair) that ``parse``
    reads from the path, once the operator is known."""
    actor = await guard.operator(request, "operator.contracts" if kind == "contract" else "operator.mandates")
    number, value = values.kvk(request.path_params["kvk"], "kvk"), parse()
    found = await run_in_threadpool(catalogue.overview, state(request).db, number)
    term = next((t for t in (found.contracts if kind == "contract" else found.given) if t[key] == value), None)
    if term is None:
        raise NotFound(f"unknown_{kind}", "No such contract." if kind == "contract" else "No such mandate.")
    return await _term_page(request, actor, kind, number, _term_values(term, key, value))


async def _save_term(request: Request, actor: Actor, kind: str, number: str, key: str, parse: Callable[[], Any],
                     done: Callable[[Any], str]) -> Response:
    """Parse the form and save through the use case; refused input (422) comes back as the form, with what was
    typed and the Dutch error on its field; another refusal goes back to the organisation's page."""
    data = await form(request)
    try:
        work = parse()
        saved = await run_in_threadpool(work)
    except Invalid as exc:
        said = exc.message if isinstance(exc, FormError) else texts.field_error(exc.code, exc.field, message(exc))
        return await _term_page(request, actor, kind, number, _typed(data, key), said, exc.field or "", exc.status)
    except AuthzError as exc:
        if exc.status == 404:
            raise
        return flash(request, redirect(f"/operator/organisaties/{number}"), message(exc), "error")
    await after_commit(state(request), saved.revision)
    said = await run_in_threadpool(done, saved)  # it may look up names
    return flash(request, redirect(f"/operator/organisaties/{number}"), said)


async def put_contract(request: Request) -> Response:
    """Start a contract or change its days, as ``PUT /v1/operator/contracts/{kvk}/{code}``: the form always says
    the end (a day, or "Geen einddatum"); an empty start keeps an existing one's."""
    actor = await guard.operator(request, "operator.contracts")
    number = values.kvk(request.path_params["kvk"], "kvk")
    data = await form(request)
    st = state(request)

    def parse() -> Callable[[], Done]:
        product = values.code(text_field(data, "product", max_len=63), "product")
        valid_from, valid_until = _start(data), _end(data)
        return lambda: catalogue.put_contract(st.db, actor.email, number, product, valid_from, valid_until)

    def done(saved: Done) -> str:
        view = saved.answer
        return texts.contract_saved(*_named(st, view["afnemer"], view["product"]), view["valid_from"],
                                    view["valid_until"])

    return await _save_term(request, actor, "contract", number, "product", parse, done)


async def end_contract_form(request: Request) -> Response:
    actor = await guard.operator(request, "operator.contracts")
    number = values.kvk(request.path_params["kvk"], "kvk")
    product = values.code(request.path_params["code"], "code")
    found = await run_in_threadpool(catalogue.overview, state(request).db, number)
    contract = next((c for c in found.contracts if c["product"] == product), None)
    if contract is None:
        raise NotFound("unknown_contract", "No such contract.")
    title, button, explain = texts.OP_END_CONTRACT
    name = (await run_in_threadpool(catalogue.product_names, state(request).db, [product])).get(product, product)
    facts = [("Afnemer", f"{found.org['name']} (KvK {number})"), ("Product", name), ("Looptijd", _window(contract))]
    return _confirm(request, actor, "op-organisaties", title, facts, explain,
                    f"/operator/organisaties/{number}/contracten/{product}/beeindigen", button,
                    f"/operator/organisaties/{number}", found.org["name"])


def _window(x: dict[str, object]) -> str:
    until = texts.dutch_date(str(x["valid_until"])) if x["valid_until"] else "onbepaald"
    return f"{texts.dutch_date(str(x['valid_from']))} tot en met {until}"


async def end_contract(request: Request) -> Response:
    actor = await guard.operator(request, "operator.contracts")
    number = values.kvk(request.path_params["kvk"], "kvk")
    product = values.code(request.path_params["code"], "code")
    st = state(request)
    return await attempt(request, f"/operator/organisaties/{number}",
                         lambda: _Named(catalogue.end_contract(st.db, actor.email, number, product),
                                        *_named(st, number, product)),
                         lambda ended: texts.contract_ended(ended.afnemer, ended.other, ended.last_day))


async def put_mandate(request: Request) -> Response:
    """Give or change a mandate, as ``PUT /v1/operator/mandates/{afnemer}/{intermediair}``: the form always says the
    products (ticked, or "Alle producten"; none ticked is refused as ``products: []`` is) and the end."""
    actor = await guard.operator(request, "operator.mandates")
    afnemer = values.kvk(request.path_params["kvk"], "kvk")
    data = await form(request)
    st = state(request)

    def parse() -> Callable[[], Done]:
        intermediair = values.kvk(text_field(data, "intermediair", max_len=8), "intermediair")
        products, valid_from, valid_until = _scope(data), _start(data), _end(data)
        return lambda: catalogue.put_mandate(st.db, actor.email, afnemer, intermediair, products, valid_from,
                                             valid_until)

    def done(saved: Done) -> str:
        view = saved.answer
        names = catalogue.product_names(st.db, view["products"] or [])
        return texts.mandate_saved(_org_name(st, afnemer), _org_name(st, view["intermediair"]),
                                   [names.get(c, c) for c in view["products"]] if view["products"] else None,
                                   view["valid_from"], view["valid_until"])

    return await _save_term(request, actor, "mandate", afnemer, "intermediair", parse, done)


async def end_mandate_form(request: Request) -> Response:
    actor = await guard.operator(request, "operator.mandates")
    afnemer = values.kvk(request.path_params["kvk"], "kvk")
    intermediair = values.kvk(request.path_params["intermediair"], "intermediair")
    found = await run_in_threadpool(catalogue.overview, state(request).db, afnemer)
    mandate = next((m for m in found.given if m["intermediair"] == intermediair), None)
    if mandate is None:
        raise NotFound("unknown_mandate", "No such mandate.")
    title, button, explain = texts.OP_END_MANDATE
    names = await run_in_threadpool(catalogue.product_names, state(request).db, mandate["products"] or [])
    scope = [names.get(c, c) for c in mandate["products"]] if mandate["products"] else None
    facts = [("Afnemer", f"{found.org['name']} (KvK {afnemer})"),
             ("Intermediair", f"{found.names.get(intermediair, intermediair)} (KvK {intermediair})"),
             ("Producten", texts.mandate_scope(scope)), ("Looptijd", _window(mandate))]
    return _confirm(request, actor, "op-organisaties", title, facts, explain,
                    f"/operator/organisaties/{afnemer}/opdrachten/{intermediair}/beeindigen", button,
                    f"/operator/organisaties/{afnemer}", found.org["name"])


async def end_mandate(request: Request) -> Response:
    actor = await guard.operator(request, "operator.mandates")
    afnemer = values.kvk(request.path_params["kvk"], "kvk")
    intermediair = values.kvk(request.path_params["intermediair"], "intermediair")
    st = state(request)
    return await attempt(request, f"/operator/organisaties/{quote(afnemer)}",
                         lambda: _Named(catalogue.end_mandate(st.db, actor.email, afnemer, intermediair),
                                        _org_name(st, afnemer), _org_name(st, intermediair)),
                         lambda ended: texts.mandate_ended(ended.afnemer, ended.other, ended.last_day))


# -- an organisation's accounts and beheerders (R18, within R4) ------------------------------------------------

# Each of the operator's changes to an account: (permission, confirmation texts, the use case, the message after).
_CHANGES = {
    "deactiveren": ("accounts.status", texts.OP_DEACTIVATE, texts.OP_DEACTIVATED),
    "heractiveren": ("accounts.status", None, texts.OP_REACTIVATED),
    "aanwijzen": ("beheerders.appoint", texts.OP_APPOINT, texts.OP_APPOINTED),
    "intrekken": ("beheerders.remove", texts.OP_REMOVE, texts.OP_REMOVED),
}


async def account_form(request: Request) -> Response:
    """The confirmation page of deactivating an account, appointing a beheerder or removing one. Changes
    nothing."""
    step = request.path_params["step"]
    if step not in _CHANGES or _CHANGES[step][1] is None:
        raise NotFound("not_found", "No such page.")
    action, confirm, _ = _CHANGES[step]
    number, email = _target(request)
    await guard.operator(request, "operator.accounts")  # the operator's pages (a beheerder has its own)
    actor = await guard.for_org(request, action, number)
    st = state(request)
    person = await run_in_threadpool(users.person, st.db, actor.email, number, email)  # 404 outside the org
    org = await run_in_threadpool(catalogue.org, st.db, number)
    assert confirm is not None
    title, button, explain = confirm
    facts = [("Account", person.email), ("Naam", person.name or "onbekend"),
             ("Organisatie", f"{org['name']} ({number})"), ("Status", texts.STATUS.get(person.status, person.status))]
    return _confirm(request, actor, "op-organisaties", title, facts, explain,
                    f"/operator/organisaties/{number}/accounts/{quote(email)}/{step}",
                    f"{button}: {person.email}", f"/operator/organisaties/{number}", org["name"],
                    danger=step != "aanwijzen")


async def change_account(request: Request) -> Response:
    """The operator's change to an account of the organisation, through the beheerders' own use cases
    (:mod:`authz.service.members`, :mod:`authz.service.beheerders`: R4 under their row lock), audited as the
    operator's."""
    step = request.path_params["step"]
    if step not in _CHANGES:
        raise NotFound("not_found", "No such page.")
    action, _, said = _CHANGES[step]
    number, email = _target(request)
    await guard.operator(request, "operator.accounts")  # the operator's pages (a beheerder has its own)
    actor = await guard.for_org(request, action, number)
    st = state(request)
    org = await run_in_threadpool(catalogue.org, st.db, number)
    work = {"deactiveren": lambda: members.deactivate(st.db, st.sessions, actor.email, number, email),
            "heractiveren": lambda: members.reactivate(st.db, st.settings, actor.email, number, email),
            "aanwijzen": lambda: beheerders.appoint(st.db, actor.email, number, email, st.settings.base_url),
            "intrekken": lambda: beheerders.remove(st.db, actor.email, number, email, st.settings.base_url)}[step]
    return await attempt(request, f"/operator/organisaties/{number}", work,
                         lambda _: said.format(email=email, org=org["name"]))


# -- e-mails that could not be delivered ------------------------------------------------------------------------

async def mail_page(request: Request) -> Response:
    """The dead letters (outbox status "dead"), newest first, as ``GET /v1/operator/mail`` lists them."""
    actor = await guard.operator(request, "operator.mail")
    raw = request.query_params.get("voor")
    before = values.record_id(raw, "unknown_mail", "No such e-mail.") if raw else None
    found = await run_in_threadpool(mail.listing, state(request).db, "dead", MAIL_PAGE, before)
    more = f"/operator/e-mails?voor={found.cursor}" if found.cursor else ""
    return render(request, "op_mail.html", {**guard.frame(actor, "op-e-mails", texts.OP_MAIL_TITLE),
                                            "mails": found.items, "more": more})


async def retry_mail(request: Request) -> Response:
    """Try a dead e-mail again now (:func:`authz.service.mail.retry`, as ``POST /v1/operator/mail/{id}/retry``)."""
    actor = await guard.operator(request, "operator.mail")
    number = values.record_id(request.path_params["id"], "unknown_mail", "No such e-mail.")
    st = state(request)
    return await attempt(request, "/operator/e-mails", lambda: mail.retry(st.db, actor.email, number),
                         lambda _: texts.OP_MAIL_RETRIED)


# -- an account's lost second factor (R17) ----------------------------------------------------------------------

def _target(request: Request) -> tuple[str, str]:
    """(the organisation, the account's e-mail) of the path."""
    return values.kvk(request.path_params["kvk"], "kvk"), values.email(request.path_params["email"], "email")


async def mfa_reset_form(request: Request) -> Response:
    """The confirmation page: which account, what the reset does; the POST form on it does it. Changes nothing."""
    actor = await guard.operator(request, "operator.accounts")
    st = state(request)
    number, email = _target(request)
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
    number, email = _target(request)
    await run_in_threadpool(users.person, st.db, actor.email, number, email)  # 404 outside the org
    return await attempt(request, f"/operator/organisaties/{number}",
                         lambda: mfa.reset(st.db, st.sessions, actor.email, email),
                         lambda _: texts.mfa_reset_done(email))


routes = [
    route("/operator/aanvragen", requests_page),
    route("/operator/aanvragen/{id}/goedkeuren", approve_form),
    route("/operator/aanvragen/{id}/goedkeuren", approve, "POST"),
    route("/operator/aanvragen/{id}/afwijzen", reject_form),
    route("/operator/aanvragen/{id}/afwijzen", reject, "POST"),
    route("/operator/producten", products_page),
    route("/operator/producten", add_product, "POST"),
    route("/operator/producten/{code}/link", set_product_link, "POST"),
    route("/operator/organisaties", orgs_page),
    route("/operator/organisaties", add_org, "POST"),
    route("/operator/organisaties/{kvk}", org_page),
    route("/operator/organisaties/{kvk}/contracten", put_contract, "POST"),
    route("/operator/organisaties/{kvk}/contracten/{code}", contract_form),
    route("/operator/organisaties/{kvk}/gegevens", edit_org, "POST"),
    route("/operator/organisaties/{kvk}/contracten/{code}/beeindigen", end_contract_form),
    route("/operator/organisaties/{kvk}/contracten/{code}/beeindigen", end_contract, "POST"),
    route("/operator/organisaties/{kvk}/opdrachten", put_mandate, "POST"),
    route("/operator/organisaties/{kvk}/opdrachten/{intermediair}", mandate_form),
    route("/operator/organisaties/{kvk}/opdrachten/{intermediair}/beeindigen", end_mandate_form),
    route("/operator/organisaties/{kvk}/opdrachten/{intermediair}/beeindigen", end_mandate, "POST"),
    route("/operator/e-mails", mail_page),
    route("/operator/e-mails/{id}/opnieuw", retry_mail, "POST"),
    route("/operator/organisaties/{kvk}/accounts/{email}/tweede-factor-herstellen", mfa_reset_form),
    route("/operator/organisaties/{kvk}/accounts/{email}/tweede-factor-herstellen", mfa_reset, "POST"),
    # after the reset of a second factor: {step} would take its path too
    route("/operator/organisaties/{kvk}/accounts/{email}/{step}", account_form),
    route("/operator/organisaties/{kvk}/accounts/{email}/{step}", change_account, "POST"),
]

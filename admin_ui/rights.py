"""Toegangsrechten beheren: the overview of users, one user's page with a checkbox per product (R2, R9), and the
intermediair's organisations under management (R15).

The grants come from :func:`authz.service.grants.overview` and are saved by :func:`authz.service.grants.save`,
exactly as ``GET``/``PUT /v1/orgs/{kvk}/users/{email}/grants`` do. The page carries the grants ``version`` it
showed; when another beheerder saved the same user meanwhile, the save is refused and the page shows the current
state next to what was ticked, so nothing is silently overwritten.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from admin_ui import guard, texts
from admin_ui.web import FormError, flash, form, local_path, message, redirect, render, route
from authz import values
from authz.actor import Actor
from authz.domain import sentences
from authz.errors import AuthzError
from authz.service import audit, catalogue, grants, mine, users
from authz.service.commit import after_commit
from authz.service.results import Page
from authz.state import State, state

PAGE = 100
OVERVIEW = "/toegangsrechten"
CLIENTS = "/organisaties-onder-beheer"


def _here(request: Request) -> str:
    """This list page with its search and page, for the user page's "Terug"."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _back(value: str | None) -> tuple[str, str]:
    """Where "Terug" on a user's page goes, and its words: the list the page was opened from when that is a path of
    this site (never another site: no open redirect), else the overview."""
    target = local_path(value, OVERVIEW)
    if target == CLIENTS or target.startswith(CLIENTS + "?"):
        return target, "Terug naar de organisaties onder uw beheer"
    return target, "Terug naar het overzicht"


def _users(request: Request, actor: Actor, org: str) -> Page[users.User]:
    """One page of the organisation's users (search ``q``, after ``na``)."""
    q = values.search_text(request.query_params.get("q", ""), values.MAX_EMAIL)
    after = values.search_text(request.query_params.get("na", ""), values.MAX_EMAIL) or None
    return users.listing(state(request).db, actor.email, org, q or None, after, PAGE)


async def overview(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "users.list")
    found = await run_in_threadpool(_users, request, actor, org)
    # An organisation that acts for afnemers gets the Intermediair button.
    intermediair = bool(await run_in_threadpool(users.clients, state(request).db, actor.email, org))
    q = request.query_params.get("q", "").strip()
    return render(request, "users.html", {
        **guard.frame(actor, "rechten", "Toegangsrechten beheren"), "users": found.items, "q": q,
        "intermediair": intermediair, "afnemer": None, "clients": None, "here": _here(request),
        "next_url": f"/toegangsrechten?{urlencode({'q': q, 'na': found.cursor})}" if found.cursor else None})


async def clients(request: Request) -> Response:
    """R15, in the manual's order: the afnemers this organisation acts for ("organisaties onder uw beheer"), then all
    its current users; the afnemer is picked on the user's own page."""
    actor, org = await guard.beheerder(request, "clients.list")
    found = [{"kvk": c.kvk, "name": c.name, "products": list(c.product_names.items())}
             for c in await run_in_threadpool(users.clients, state(request).db, actor.email, org)]
    listed = await run_in_threadpool(_users, request, actor, org)
    q = request.query_params.get("q", "").strip()
    return render(request, "clients.html", {
        **guard.frame(actor, "rechten", "Organisaties onder uw beheer"), "clients": found,
        "afnemer": None, "users": listed.items, "q": q, "here": _here(request),
        "next_url": f"{CLIENTS}?{urlencode({'q': q, 'na': listed.cursor})}" if listed.cursor else None})


# -- one user's page -------------------------------------------------------------------------------------------

def _user_page(request: Request, actor: Actor, org: str, email: str, afnemer: str | None, terug: str | None,
               tried: list[str] | None = None, error: str | None = None, status: int = 200) -> Response:
    st = state(request)
    ov = grants.overview(st.db, actor.email, org, email)
    # Why an inert grant gives nothing, in the words of the user's own Mijn producten (one function for both).
    lapses = {(i.afnemer, i.product): sentences.lapse(str(i.reason), i.since, i.name, i.afnemer_name)
              for i in mine.products(st.db, ov["email"]).inert}
    person = users.person(st.db, actor.email, org, email).view()
    names, products = ov["organisations"], ov["products"]
    # Own organisation first, then the afnemers it acts for, then any afnemer of an inert grant (lapsed mandate).
    order = [a for a in [org, *ov["selectable"], *ov["grants"]] if a in ov["selectable"] or a in ov["grants"]]
    afnemers = list(dict.fromkeys(order))
    if afnemer not in afnemers:
        afnemer = afnemers[0] if len(afnemers) == 1 else None
    summary = [{"kvk": a, "name": names.get(a, a), "own": a == org,
                "products": [(p, products.get(p, p), p in ov["inert"].get(a, ())) for p in ov["grants"].get(a, [])]}
               for a in afnemers]
    boxes = []
    if afnemer is not None:
        held = ov["grants"].get(afnemer, [])
        codes = sorted(set(ov["selectable"].get(afnemer, [])) | set(held))
        boxes = [{"code": p, "name": products.get(p, p), "checked": p in held,
                  "inert": p in ov["inert"].get(afnemer, ()), "lapsed": lapses.get((afnemer, p), ""),
                  "tried": tried is not None and p in tried} for p in codes]
    back, back_label = _back(terug)
    return render(request, "user.html", {
        **guard.frame(actor, "rechten", f"Toegangsrechten van {person['name'] or person['email']}"),
        "person": person, "afnemers": [{"kvk": a, "name": names.get(a, a), "own": a == org} for a in afnemers],
        "afnemer": {"kvk": afnemer, "name": names.get(afnemer, afnemer), "own": afnemer == org} if afnemer else None,
        "summary": summary, "boxes": boxes, "version": ov["version"], "tried": tried,
        "tried_names": [products.get(p, p) for p in tried or []], "error": error,
        "self_url": f"/toegangsrechten/{quote(email)}", "back": back, "back_label": back_label,
        "terug": back if back != OVERVIEW else ""}, status)


async def user(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "grants.read")
    email = values.email(request.path_params["email"], "email")
    afnemer = request.query_params.get("afnemer")
    return await run_in_threadpool(_user_page, request, actor, org, email, afnemer,
                                   request.query_params.get("terug"))


def _stale(st: State, actor: str, org: str, email: str) -> str:
    """The refusal of a save against an older version, naming who saved in between: the beheerder themself (in
    another tab) is not "another beheerder"."""
    last = next((e for e in audit.user_history(st.db, org, email) if e.action == "grants.replace"), None)
    if last is not None and last.actor == actor:
        return texts.STALE_BY_YOU
    return texts.stale_by(last.who if last is not None else "")


async def save(request: Request) -> Response:
    actor, org = await guard.beheerder(request, "grants.edit")
    st = state(request)
    email = values.email(request.path_params["email"], "email")
    data = await form(request)
    afnemer = values.kvk(data.get("afnemer"), "afnemer")
    raw_version = data.get("version")
    version = values.whole_number(raw_version) if isinstance(raw_version, str) else None
    if version is None:
        raise FormError("missing_field", "Het formulier mist zijn versie; laad de pagina opnieuw.")
    products = [values.code(v, "product") for v in data.getlist("product")]
    raw_terug = data.get("terug")
    terug = local_path(raw_terug if isinstance(raw_terug, str) else None, "")
    try:
        saved = await run_in_threadpool(grants.save, st.db, actor.email, org, email, afnemer, sorted(set(products)),
                                        version, st.settings.base_url)
    except AuthzError as exc:
        if exc.status == 404:
            raise
        said = message(exc)
        if exc.code == "stale_version":
            said = await run_in_threadpool(_stale, st, actor.email, org, email)
        return await run_in_threadpool(_user_page, request, actor, org, email, afnemer, terug,
                                       sorted(set(products)), said, exc.status)
    if saved.revision is not None:
        await after_commit(st, saved.revision)
    target = f"/toegangsrechten/{quote(email)}?{urlencode({'afnemer': afnemer, **({'terug': terug} if terug else {})})}"
    if not saved.added and not saved.removed:
        return flash(request, redirect(target), "Er is niets gewijzigd.", "info")
    names = await run_in_threadpool(catalogue.product_names, st.db, [*saved.added, *saved.removed])
    parts = []
    if saved.added:
        parts.append("Toegevoegd: " + ", ".join(names.get(p, p) for p in saved.added) + ".")
    if saved.removed:
        parts.append("Verwijderd: " + ", ".join(names.get(p, p) for p in saved.removed) + ".")
    person = await run_in_threadpool(users.person, st.db, actor.email, org, email)
    parts.append(f"{person.name or email} heeft hierover een e-mail gekregen.")
    return flash(request, redirect(target), "Opgeslagen. " + " ".join(parts))


routes = [
    route("/toegangsrechten", overview),
    route("/organisaties-onder-beheer", clients),
    route("/toegangsrechten/{email}", user),
    route("/toegangsrechten/{email}", save, "POST"),
]
